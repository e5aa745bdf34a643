"""The wake spool: a shell that may open no unix socket leaves its wake as a file, and
the agent's real harness stores it; what an agent plants there is never followed."""

import json
import os
import sqlite3
import subprocess

from hive import PYTHON, REPO, clean_env, wait_for
from hyperhive import wakespool


def spool_of(h, name):
    return h.root / "lib" / "agents" / name / "state" / wakespool.SPOOL_DIR


def wakes_for(h, name):
    with sqlite3.connect(h.root / "lib" / "broker.sqlite") as db:
        return db.execute("SELECT sender, body FROM messages WHERE recipient = ? AND "
                          "sender LIKE 'wake:%' ORDER BY id", (name,)).fetchall()


def test_a_wake_left_in_the_spool_becomes_a_message_from_its_label(host_with_alice):
    h = host_with_alice
    spool = spool_of(h, "alice")
    wait_for(lambda: (spool / wakespool.BELL).exists(), what="alice's wake spool")
    assert wakespool.leave(str(spool), "cron", "first") is True
    assert wakespool.leave(str(spool), "cron", "second") is True
    wait_for(lambda: len(wakes_for(h, "alice")) == 2, what="both wakes stored")
    assert wakes_for(h, "alice") == [("wake:cron", "first"), ("wake:cron", "second")]
    wait_for(lambda: not any(p.name.startswith("w-") for p in spool.iterdir()),
             what="the spool emptied")


def test_hyperhive_wake_checks_the_wake_before_it_leaves_it(host_with_alice):
    h = host_with_alice
    spool = spool_of(h, "alice")
    wait_for(lambda: (spool / wakespool.BELL).exists(), what="alice's wake spool")
    code = ("import sys; from hyperhive import wake; "
            "sys.exit(wake.leave_in_spool(sys.argv[1], sys.argv[2], sys.argv[3]))")
    def leave(label, body):
        return subprocess.run([PYTHON, "-c", code, str(spool), label, body], cwd=str(REPO),
                              env=clean_env(), capture_output=True, text=True, timeout=30)
    empty = leave("cron", "  ")
    assert empty.returncode == 1 and "body must not be empty" in empty.stderr
    newline = leave("a\nb", "hi")
    assert newline.returncode == 1 and "printable" in newline.stderr
    ok = leave("cron", "hello")
    assert ok.returncode == 0 and ok.stdout.startswith("left for the harness in "), ok
    wait_for(lambda: wakes_for(h, "alice") == [("wake:cron", "hello")], what="the wake")


def test_wakes_left_while_the_harness_is_down_are_taken_when_it_starts(host_with_alice):
    h = host_with_alice
    spool = spool_of(h, "alice")
    wait_for(lambda: (spool / wakespool.BELL).exists(), what="alice's wake spool")
    assert h.admin("stop", name="alice")["ok"]
    assert wakespool.leave(str(spool), "ci", "while down") is False
    assert wakes_for(h, "alice") == []
    assert h.admin("start", name="alice")["ok"]
    wait_for(lambda: wakes_for(h, "alice") == [("wake:ci", "while down")],
             what="the waiting wake")


def test_what_an_agent_plants_in_its_spool_is_dropped_never_followed(host_with_alice, tmp_path):
    h = host_with_alice
    spool = spool_of(h, "alice")
    wait_for(lambda: (spool / wakespool.BELL).exists(), what="alice's wake spool")
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"from": "x", "body": "the host's secret"}))
    stamp = 1700000000000000000
    planted = {
        f"w-{stamp}-{'0' * 16}.json": lambda p: p.symlink_to(secret),
        f"w-{stamp + 1}-{'0' * 16}.json": lambda p: os.mkfifo(p),
        f"w-{stamp + 2}-{'0' * 16}.json": lambda p: p.mkdir(),
        f"w-{stamp + 3}-{'0' * 16}.json": lambda p: p.write_text("not json"),
        f"w-{stamp + 4}-{'0' * 16}.json": lambda p: p.write_text('{"from": "a", "body": "b", '
                                                                 '"to": "bob"}'),
        f"w-{stamp + 5}-{'0' * 16}.json": lambda p: p.write_bytes(
            b"{" + b" " * (wakespool.MAX_FILE + 1) + b"}"),
        f"w-{stamp + 6}-{'0' * 16}.json": lambda p: p.write_text(
            json.dumps({"from": "operator\n", "body": "as the operator"})),
    }
    for name, plant in planted.items():
        plant(spool / name)
    assert wakespool.leave(str(spool), "cron", "the real one") is True
    wait_for(lambda: wakes_for(h, "alice") == [("wake:cron", "the real one")],
             what="only the real wake")
    left = sorted(p.name for p in spool.iterdir() if p.name.startswith("w-"))
    assert left == [f"w-{stamp + 2}-{'0' * 16}.json"]      # a directory is not removed
    assert secret.exists()
    log = h.log()
    assert "dropped" in log and "the host's secret" not in log


def test_a_spool_swapped_for_a_link_is_refused_and_the_harness_runs_on(host_with_alice,
                                                                     tmp_path):
    h = host_with_alice
    spool = spool_of(h, "alice")
    wait_for(lambda: (spool / wakespool.BELL).exists(), what="alice's wake spool")
    assert h.admin("stop", name="alice")["ok"]
    for item in spool.iterdir():
        item.unlink()
    spool.rmdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    spool.symlink_to(elsewhere)
    assert h.admin("start", name="alice")["ok"]
    wait_for(lambda: "no wake spool for shells without unix sockets" in h.log(),
             what="the harness's warning")
    assert list(elsewhere.iterdir()) == []
    # The harness goes on without its spool: up, and its socket still takes a wake.
    assert h.agent("alice", "wake", **{"from": "cron", "body": "by socket"})["ok"]

    def alice_up():
        row = next(r for r in h.admin("status")["agent_statuses"] if r["name"] == "alice")
        return row["running"] and row["turn_state"] == "idle"
    # (the harness reports its state a moment after it logs the warning)
    wait_for(alice_up, what="alice's harness to report itself up")
    recent = h.agent("alice", "recent")["messages"]
    assert [m["from"] for m in recent if m["body"] == "by socket"] == ["wake:cron"]
