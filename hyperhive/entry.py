"""Process entry: decide about gevent before anything else is imported.

The long-running roles (host, agent) run on gevent, which must patch the
standard library first. The others (mcp, wake, ctl) stay plain blocking
Python: the MCP SDK hangs under gevent. claude's per-turn `hyperhive mcp`, the relay,
goes straight to mcprelay.py and loads nothing more.

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
    if argv[:1] == ["mcp"]:
        # claude waits for this one every turn: the relay runs before anything else loads.
        from . import mcprelay
        hive_dir = mcprelay.plain_hive_dir(argv[1:])
        if hive_dir is not None:
            return mcprelay.run(hive_dir)
    if argv[:1] and argv[0] in GEVENT_ROLES:
        from gevent import monkey
        monkey.patch_all()
    from .cli import main as cli_main
    return cli_main(argv)
