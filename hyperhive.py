#!/usr/bin/env python3
"""hyperhive: one executable for the host daemon, the agent harness and their tools."""

import sys

from hyperhive.entry import main

if __name__ == "__main__":
    sys.exit(main())
