"""A hostile agent plants links, FIFOs and dirs where the host writes: it never follows them.

Each test performs the real trick against a real host (the exact file planted, the
exact request) and checks that it was refused, that nothing was written outside, and
that the host still answers on the admin socket and on another agent's socket.
"""

import json
import os
import shutil
import sqlite3
import stat
import time

import pytest

from hive import HostProcess, request, short_tmpdir, wait_for
from hyperhive import notes
from hyperhive.errors import Conflict
from test_e2e import events, spawn, start_hive, stub  # noqa: F401  (stub: a fixture)

WHY = "reminders are written only to regular files under /state"


@pytest.fixture
def hive():
    """A host with alice (the attacker) and bob (a bystander), and a dir outside the hive."""
    h = HostProcess().start()
    outside = short_tmpdir("hh-outside")
    try:
        for name in ("alice", "bob"):
            assert h.admin("spawn", name=name)["ok"]
        yield h, outside
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)
        shutil.rmtree(outside, ignore_errors=True)


def state(h, name="alice"):
    return h.root / "lib" / "agents" / name / "state"


def agent_dir(h, name):
    return h.root / "lib" / "agents" / name


def precious(outside):
    path = outside / "precious.txt"
    path.write_text("precious\n")
    return path


def reminder_body(h, name="alice", wait=10):
    for _ in range(3):      # past the host's `started` message after a restart
        reply = h.agent(name, "recv", timeout=wait + 10, wait_seconds=wait)
        assert reply["ok"], reply
        if not reply["messages"] or reply["messages"][0]["from"] != "system":
            break
    [message] = reply["messages"]
    assert message["from"] == "reminder"
    return message["body"]


def answers_within_a_second(h, *agents):
    """The admin socket and each agent's socket reply to a request within a second."""
    for path in (h.sock, *(h.agent_sock(a) for a in agents)):
        started = time.monotonic()
        reply = request(path, {"cmd": "hello"}, timeout=1)
        assert reply["ok"] and time.monotonic() - started < 1, path


def plant(path, what, target=None):
    if what == "file":
        path.write_text("planted\n")
    elif what == "symlink":
        path.symlink_to(target)
    elif what == "fifo":
        os.mkfifo(path)
    elif what == "dir":
        path.mkdir()


# -- reminders' file_path -----------------------------------------------------


def test_a_reminder_file_path_through_a_symlink_is_refused(hive):
    h, outside = hive
    target = precious(outside)
    (state(h) / "x").symlink_to(target)
    assert h.agent("alice", "remind", message="overwrite me", delay_seconds=0,
                   file_path="/state/x")["ok"]
    body = reminder_body(h)
    assert body == ("overwrite me\n(the text was not written to /state/x: "
                    f"/state/x is a symlink; {WHY})")
    assert target.read_text() == "precious\n" and (state(h) / "x").is_symlink()
    assert os.readlink(state(h) / "x") == str(target)
    answers_within_a_second(h, "bob")


def test_a_symlinked_parent_dir_of_a_reminder_file_is_refused(hive):
    h, outside = hive
    (state(h) / "notes").symlink_to(outside)
    assert h.agent("alice", "remind", message="x", delay_seconds=0,
                   file_path="/state/notes/sub/r.txt")["ok"]
    body = reminder_body(h)
    assert "/state/notes is a symlink" in body and body.startswith("x\n")
    assert list(outside.iterdir()) == []


def test_a_fifo_at_a_reminder_file_never_blocks_the_host(hive):
    h, _ = hive
    os.mkfifo(state(h) / "pipe")
    assert h.agent("alice", "remind", message="block the hub", delay_seconds=1,
                   file_path="/state/pipe")["ok"]
    body = reminder_body(h)
    assert body.endswith(f"/state/pipe is a FIFO; {WHY})")
    answers_within_a_second(h, "alice", "bob")
    assert stat.S_ISFIFO(os.lstat(state(h) / "pipe").st_mode)


def test_a_fifo_at_a_reminder_file_never_blocks_the_host_after_a_restart(hive):
    h, _ = hive
    os.mkfifo(state(h) / "pipe")
    assert h.agent("alice", "remind", message="durable block", delay_seconds=3,
                   file_path="/state/pipe")["ok"]
    h.stop()
    h.start()
    time.sleep(3.5)                      # due now: the timer has delivered it
    answers_within_a_second(h, "alice", "bob")
    assert "is a FIFO" in reminder_body(h)
    h.stop()
    h.start()
    answers_within_a_second(h, "alice", "bob")
    late = h.agent("alice", "recv", wait_seconds=1, max=32)["messages"]
    late += h.agent("alice", "recv", wait_seconds=1, max=32)["messages"]
    assert [m for m in late if m["from"] != "system"] == []   # exactly once


def test_a_directory_at_a_reminder_file_is_left_alone(hive):
    h, _ = hive
    (state(h) / "dir").mkdir()
    (state(h) / "dir" / "keep").write_text("keep")
    assert h.agent("alice", "remind", message="x", delay_seconds=0,
                   file_path="/state/dir")["ok"]
    assert reminder_body(h).endswith(f"/state/dir is a directory; {WHY})")
    assert (state(h) / "dir" / "keep").read_text() == "keep"


def test_reminder_paths_outside_state_are_refused_at_remind_time(hive):
    h, _ = hive
    for path in ("/state/../../../etc/passwd", "/state/a/../../x", "/etc/passwd", "state/x",
                 "/state/", "/state//x", "/state/./x", "/state/x\0y", "/state/" + "a" * 1100,
                 "/statex/y"):
        reply = h.agent("alice", "remind", message="x", delay_seconds=0, file_path=path)
        # the shape rule says where files may go; an overlong path meets the byte bound first
        assert reply["code"] == "bad_args", path
        assert "/state/" in reply["error"] or "limit" in reply["error"], path
    assert h.agent("alice", "status")["pending_reminders"] == 0


def test_a_reminder_file_is_still_written_to_a_regular_path(hive):
    h, _ = hive
    (state(h) / "r.txt").write_text("old")
    assert h.agent("alice", "remind", message="new text", delay_seconds=0,
                   file_path="/state/r.txt")["ok"]
    assert reminder_body(h) == "reminder: the text is in /state/r.txt"
    assert (state(h) / "r.txt").read_text() == "new text"
    assert [p.name for p in state(h).iterdir() if p.name.startswith(".r.txt")] == []


# -- markers the host used to keep in agent dirs --------------------------------


@pytest.mark.parametrize("what", ["file", "symlink", "fifo"])
def test_a_planted_draft_marker_cannot_discard_a_live_agent(hive, what):
    h, outside = hive
    config = agent_dir(h, "alice") / "config"
    plant(agent_dir(h, "alice") / "draft", what, precious(outside))
    for ask in (lambda: h.admin("discard_draft", name="alice"),
                lambda: h.agent("manager", "discard_draft", name="alice")):
        reply = ask()
        assert reply["code"] == "conflict" and "live agent" in reply["error"], reply
    assert (config / ".git").is_dir() and (config / "agent.json").is_file()
    assert h.admin("drafts")["drafts"] == [] and "alice" in h.admin("list")["agents"]
    assert h.agent("manager", "request_spawn_commit", name="alice",
                   commit_ref="HEAD")["code"] == "not_found"
    h.stop()
    h.start()
    answers_within_a_second(h, "alice", "bob")
    assert h.admin("drafts")["drafts"] == [] and (config / ".git").is_dir()


@pytest.mark.parametrize("what", ["file", "symlink", "fifo"])
def test_planted_stopped_and_port_markers_have_no_effect(hive, what):
    h, outside = hive
    target = precious(outside)
    target.write_text("1\n")
    ports = {r["name"]: r["port"] for r in h.admin("status")["agent_statuses"]}
    for marker in ("stopped", "port"):
        plant(agent_dir(h, "alice") / marker, what, target)
    answers_within_a_second(h, "alice", "bob")
    assert {r["name"]: r["port"] for r in h.admin("status")["agent_statuses"]} == ports
    h.stop()
    h.start()
    answers_within_a_second(h, "alice", "bob")
    wait_for(lambda: _row(h, "alice")["running"], what="alice started despite `stopped`")
    assert _row(h, "alice")["port"] == ports["alice"]
    assert target.read_text() == "1\n"


def test_a_dir_the_host_never_made_is_not_built_upon(hive):
    h, outside = hive
    target = precious(outside)
    planted = agent_dir(h, "evil") / "config"
    planted.mkdir(parents=True)
    (planted / "agent.json").symlink_to(target)
    for ask in (lambda: h.agent("manager", "request_spawn_draft", name="evil"),
                lambda: h.admin("spawn", name="evil")):
        reply = ask()
        assert reply["code"] == "conflict" and "never made" in reply["error"], reply
    assert target.read_text() == "precious\n"
    assert not (planted / ".git").exists()
    # ... and purge or discard leave it alone too: the database has no record of it
    assert h.admin("purge", name="evil")["code"] == "not_found"
    assert h.admin("discard_draft", name="evil")["code"] == "not_found"
    assert (planted / "agent.json").is_symlink()
    answers_within_a_second(h, "bob")


def test_stop_and_draft_facts_live_in_the_database(hive):
    h, _ = hive
    assert h.admin("stop", name="bob")["ok"]
    assert h.agent("manager", "request_spawn_draft", name="scout", description="d")["ok"]
    for name in ("bob", "scout"):
        assert not {p.name for p in agent_dir(h, name).iterdir()} & {"stopped", "port", "draft"}
    h.stop()
    h.start()
    assert not _row(h, "bob")["running"]
    [draft] = h.admin("drafts")["drafts"]
    assert (draft["name"], draft["description"], draft["by"]) == ("scout", "d", "manager")


# -- an older hive's marker files ------------------------------------------------


def test_an_older_hives_marker_files_are_taken_in_once_through_safefs():
    h = HostProcess().start()
    outside = short_tmpdir("hh-outside")
    try:
        assert h.admin("spawn", name="alice")["ok"]
        assert h.admin("spawn", name="bob")["ok"]
        h.stop()
        # What a hive from before the agent_dirs table has on disk.
        with sqlite3.connect(h.root / "lib" / "broker.sqlite") as db:
            db.execute("DELETE FROM agent_dirs")
        (agent_dir(h, "alice") / "port").write_text(f"{h.port_base + 555}\n")
        (agent_dir(h, "alice") / "stopped").touch()
        scout = agent_dir(h, "scout")
        shutil.copytree(agent_dir(h, "bob"), scout, symlinks=True)
        target = precious(outside)
        target.write_text(f"{h.port_base + 777}\n")
        (agent_dir(h, "bob") / "port").symlink_to(target)
        os.mkfifo(agent_dir(h, "bob") / "stopped")
        (scout / "draft").write_text(json.dumps(
            {"description": "old draft", "created_at": 1000.0, "by": "manager"}))
        h.start()
        answers_within_a_second(h, "alice", "bob")
        assert _row(h, "alice")["port"] == h.port_base + 555
        assert not _row(h, "alice")["running"]
        assert _row(h, "bob")["port"] != h.port_base + 777       # a link is no marker
        wait_for(lambda: _row(h, "bob")["running"], what="bob started (a FIFO is no marker)")
        [draft] = h.admin("drafts")["drafts"]
        assert (draft["name"], draft["description"], draft["created_at"]) == (
            "scout", "old draft", 1000.0)
        for name in ("alice", "bob", "scout"):
            left = {p.name for p in agent_dir(h, name).iterdir()}
            assert not left & {"port", "stopped", "draft"}, (name, left)
        assert target.read_text() == f"{h.port_base + 777}\n"
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)
        shutil.rmtree(outside, ignore_errors=True)


# -- the harness's notes backup ------------------------------------------------------


def test_the_notes_backup_never_writes_through_a_planted_link(tmp_path):
    own, outside = tmp_path / "state", tmp_path / "outside"
    own.mkdir()
    outside.mkdir()
    target = precious(outside)
    (own / "notes.md").write_text("my notes")
    (own / "notes.md.bak").symlink_to(target)
    with pytest.raises(Conflict, match=r"notes\.md\.bak is a symlink"):
        notes.backup(own / "notes.md")
    assert target.read_text() == "precious\n"
    assert sorted(p.name for p in own.iterdir()) == ["notes.md", "notes.md.bak"]
    # nor reads through one, nor waits on a FIFO
    (own / "notes.md").unlink()
    (own / "notes.md").symlink_to(target)
    with pytest.raises(Conflict, match=r"notes\.md is a symlink"):
        notes.backup(own / "notes.md")
    (own / "notes.md").unlink()
    os.mkfifo(own / "notes.md")
    started = time.monotonic()
    with pytest.raises(Conflict, match=r"notes\.md is a FIFO"):
        notes.backup(own / "notes.md")
    assert time.monotonic() - started < 1


def test_the_harness_never_backs_up_notes_through_a_planted_link(stub):
    """The real harness (root here) compacting claude's notes.md past its limit."""
    h = start_hive(stub, HYPERHIVE_NOTES_LIMIT="1024")
    outside = short_tmpdir("hh-outside")
    try:
        spawn(h, "alice")
        target = precious(outside)
        (state(h) / "notes.md").write_text("- a note\n" * 200)
        (state(h) / "notes.md.bak").symlink_to(target)
        h.admin("send", to="alice", body="an ordinary message")

        def failed():
            return [e["text"] for _, e in events(h, "alice", "note")
                    if e["text"].startswith("notes compaction failed")]
        [text] = wait_for(failed, timeout=60, what="the compaction to give up")
        assert "notes.md.bak is a symlink" in text
        assert target.read_text() == "precious\n" and (state(h) / "notes.md.bak").is_symlink()
        assert not any("Rewrite" in r.get("last_user_text", "") for r in stub.requests)
        answers_within_a_second(h, "alice")
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)
        shutil.rmtree(outside, ignore_errors=True)


def _row(h, name):
    return next(r for r in h.admin("status")["agent_statuses"] if r["name"] == name)

