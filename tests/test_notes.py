"""notes.py: when notes.md is due for compaction, what claude is asked, how it is told."""

import json
import os

import pytest

from hyperhive import notes, prompts, settings
from hyperhive.errors import Conflict


def test_size_counts_bytes_and_a_missing_file_has_none(tmp_path):
    path = tmp_path / "notes.md"
    assert notes.size(path) is None
    path.write_text("é" * 10)
    assert notes.size(path) == 20


def test_needs_compaction_only_past_the_limit(tmp_path):
    path = tmp_path / "notes.md"
    assert not notes.needs_compaction(path, 100)
    path.write_bytes(b"x" * 100)
    assert not notes.needs_compaction(path, 100)
    path.write_bytes(b"x" * 101)
    assert notes.needs_compaction(path, 100)
    assert not notes.needs_compaction(path, 0)          # 0 turns it off


def test_after_giving_up_it_waits_for_the_file_to_grow(tmp_path):
    path = tmp_path / "notes.md"
    path.write_bytes(b"x" * 300)
    assert not notes.needs_compaction(path, 100, tried_at=300)
    path.write_bytes(b"x" * 301)
    assert notes.needs_compaction(path, 100, tried_at=300)
    tracked = notes.Notes(tmp_path, 100)
    assert tracked.path == path and tracked.due()
    tracked.tried_at = 400
    assert not tracked.due()


def test_the_limit_comes_from_the_settings():
    def limit(env):
        return settings.load(env).notes_limit
    assert limit({}) == notes.DEFAULT_LIMIT == 24576
    assert limit({"HYPERHIVE_NOTES_LIMIT": "8192"}) == 8192
    assert limit({"HYPERHIVE_NOTES_LIMIT": "0"}) == 0
    assert limit({"HYPERHIVE_NOTES_LIMIT": "-5"}) == 24576
    assert limit({"HYPERHIVE_NOTES_LIMIT": "lots"}) == 24576


def test_backup_replaces_the_previous_copy(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("first")
    assert notes.backup(path) == tmp_path / "notes.md.bak"
    path.write_text("second")
    notes.backup(path)
    assert (tmp_path / "notes.md.bak").read_text() == "second"
    assert path.read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md", "notes.md.bak"]


def test_the_prompt_names_the_file_its_size_and_the_limit(tmp_path):
    path = tmp_path / "notes.md"
    text = notes.compaction_prompt(path, 31000, 24576)
    assert f"{path} is 31000 bytes, over its limit of 24576 bytes" in text
    assert f"Rewrite {path} in place" in text
    assert "still useful" in text and "stale or repeated" in text
    assert "well under the limit" in text and "Do nothing else" in text


def test_the_argv_is_a_fresh_session_with_only_the_file_tools():
    argv = notes.compaction_argv("/bin/claude", "haiku", "/run/hive")
    assert not any(a.startswith("--resume") for a in argv)
    assert argv[argv.index("--tools") + 1] == "Read,Edit,Write"
    assert json.loads(argv[argv.index("--mcp-config") + 1]) == {"mcpServers": {}}
    assert "--strict-mcp-config" in argv and argv[-1] == "--no-session-persistence"
    assert argv[argv.index("--system-prompt-file") + 1] == "/run/hive/claude-system-prompt.md"


def test_notes_say_how_it_went():
    assert notes.started_text(31 * 1024, 24576) == "notes.md is 31 KB, over 24 KB: compacting it"
    assert notes.ended(31 * 1024, 9 * 1024, 24576) == (True, "notes compacted: 31 KB → 9 KB")
    assert notes.ended(31 * 1024, 40, 24576) == (True, "notes compacted: 31 KB → 40 bytes")
    assert notes.ended(31 * 1024, 26 * 1024, 24576) == (
        False, "notes compaction failed: notes.md is still 26 KB, over 24 KB")
    assert notes.ended(31 * 1024, None, 24576) == (
        False, "notes compaction failed: notes.md is gone (the old notes are in notes.md.bak)")
    assert notes.ended(31 * 1024, 31 * 1024, 24576, "claude exited with code 1.") == (
        False, "notes compaction failed: claude exited with code 1.")


def test_the_system_prompt_gives_the_limit():
    text = prompts.system_prompt("alice", notes_limit=16384)
    assert "Keep it under about 16 KB (the harness compacts it when it" in text
    assert "the harness compacts" not in prompts.system_prompt("alice", notes_limit=0)
    assert "under about 24 KB" in prompts.system_prompt("manager", manager=True)


def test_a_backup_never_writes_through_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("the host's file")
    state = tmp_path / "state"
    state.mkdir()
    (state / "notes.md").write_text("notes")
    (state / ".notes.md.bak.tmp").symlink_to(victim)
    assert notes.backup(state / "notes.md").read_text() == "notes"
    assert victim.read_text() == "the host's file"


def test_a_backup_refuses_notes_that_are_a_symlink_or_a_fifo(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("not the agent's")
    (tmp_path / "notes.md").symlink_to(secret)
    with pytest.raises(Conflict):
        notes.backup(tmp_path / "notes.md")
    (tmp_path / "notes.md").unlink()
    os.mkfifo(tmp_path / "notes.md")
    with pytest.raises(Conflict):
        notes.backup(tmp_path / "notes.md")        # at once: a FIFO is never read
    assert not (tmp_path / "notes.md.bak").exists()
