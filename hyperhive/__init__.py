"""hyperhive: a small swarm of Claude Code agents on one Linux host."""

__version__ = "0.1.0"
