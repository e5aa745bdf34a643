"""Process entry: decide about gevent before anything else is imported.

The long-running roles (host, agent) run on gevent, which must patch the
standard library first. The short-lived ones (mcp, wake, ctl) stay plain
blocking Python: the MCP SDK hangs under gevent.

hyperhive.py, the `hyperhive` console script and `python -m hyperhive` all call
main(); it tells `launch` how this process was started, so that its children run
the same hyperhive.
"""

import sys

from . import launch

GEVENT_ROLES = ("host", "agent")


def main(argv=None):
    launch.remember_entry(main)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in GEVENT_ROLES:
        from gevent import monkey
        monkey.patch_all()
    from .cli import main as cli_main
    return cli_main(argv)
