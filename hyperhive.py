#!/usr/bin/env python3
"""hyperhive: one executable for the host daemon, the agent harness and their tools.

The long-running roles (host, agent) run on gevent, which must patch the
standard library before anything else imports it. The short-lived ones (mcp,
wake, ctl) stay plain blocking Python: the MCP SDK hangs under gevent.
"""

import sys

if len(sys.argv) > 1 and sys.argv[1] in ("host", "agent"):
    from gevent import monkey
    monkey.patch_all()

from hyperhive.cli import main  # noqa: E402  (must come after patching)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
