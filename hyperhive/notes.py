"""The agent's notes file (`<state dir>/notes.md`) and its compaction.

Agents keep what they must remember in notes.md, and nothing in a turn stops it from
growing. Once it is past its limit the harness, between turns, has a short-lived claude
in a fresh session rewrite it in place. These helpers decide when, say what to ask and
word how it went; the harness runs the claude.
"""

import json
import logging
import os
from pathlib import Path

from . import claude, safefs, settings

log = logging.getLogger(__name__)

FILE = "notes.md"
BACKUP_SUFFIX = ".bak"
DEFAULT_LIMIT = settings.BY_NAME["notes_limit"].default     # bytes; 0 = never compact
MAX_BACKUP = 16 * 1024 * 1024
TOOLS = ("Read", "Edit", "Write")
# No MCP servers at all: a rewrite of one file has no business with the inbox, and a
# `recv` from it would take messages that no turn ever acks.
NO_MCP = json.dumps({"mcpServers": {}})


def size(path):
    """The file's size in bytes; None when it cannot be read (usually: not written yet)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def needs_compaction(path, limit, tried_at=0):
    """Past `limit`, and bigger than it was when compaction last gave up (`tried_at`)."""
    current = size(path)
    return bool(limit) and current is not None and current > max(limit, tried_at)


MAX_BACKUP = 8 * 1024 * 1024


def backup(path):
    """Copy the notes to notes.md.bak, replacing the last copy, so a bad rewrite can be undone.

    The state dir is claude's: both files are reached through safefs, so a link, FIFO
    or directory planted at either name is refused instead of followed."""
    path = Path(path)
    target = path.with_name(path.name + BACKUP_SUFFIX)
    why = "the notes are backed up only from and to regular files"
    text = safefs.read_bytes(path.parent, path.name, limit=MAX_BACKUP, shown=str(path.parent),
                             why=why)
    if text is None:
        raise FileNotFoundError(f"{path} is not there")
    safefs.write_bytes(path.parent, target.name, text, shown=str(path.parent), why=why)
    return target


def kb(n):
    return f"{n} bytes" if n < 1024 else f"{round(n / 1024)} KB"


def compaction_prompt(path, size, limit):
    path = str(path)
    return (f"Housekeeping, not a message: your notes file {path} is {size} bytes, over its "
            f"limit of {limit} bytes.\n"
            f"Rewrite {path} in place. Keep every fact that is still useful, drop what is "
            f"stale or repeated, and make it end up well under the limit (about {limit // 2} "
            "bytes is a good size).\n"
            "Read it first, then write the new version to the same path. Do nothing else: "
            "no other file, no messages.")


def compaction_argv(claude_bin, model, hive_dir, allowed=None):
    """A fresh session (never the agent's own) with only the file tools and no MCP server.

    `allowed`: the agent's own rules for TOOLS (ClaudeSetup.allowed_rules(TOOLS)), which hold
    the file tools to its dirs.
    """
    argv = claude.build_argv(claude_bin, model, hive_dir=hive_dir, builtins=TOOLS,
                             allowed=allowed)
    argv[argv.index("--mcp-config") + 1] = NO_MCP
    return [*argv, "--no-session-persistence"]


def started_text(size, limit):
    return f"{FILE} is {kb(size)}, over {kb(limit)}: compacting it"


def ended(before, after, limit, failure=None):
    """(ok, text) for the note that says how a compaction went."""
    if not failure and after is None:
        failure = f"{FILE} is gone (the old notes are in {FILE}{BACKUP_SUFFIX})"
    elif not failure and after > limit:
        failure = f"{FILE} is still {kb(after)}, over {kb(limit)}"
    if failure:
        return False, f"notes compaction failed: {failure}"
    return True, f"notes compacted: {kb(before)} → {kb(after)}"


class Notes:
    """One agent's notes file, and the size at which compaction last gave up."""

    def __init__(self, state_dir, limit):
        self.path = Path(state_dir) / FILE
        self.limit = limit
        # Kept in memory only: a rewrite that failed or stayed too big is tried again
        # once the file grows past this, not after every turn.
        self.tried_at = 0

    def due(self):
        return needs_compaction(self.path, self.limit, self.tried_at)
