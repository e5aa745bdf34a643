"""A failed turn is tried again after a rest that doubles, up to the attempts setting,
and the count outlives a restart of the harness. claude here is a script that always
fails; the host, harnesses and sockets are real."""

import json
import shutil
import sqlite3

import pytest

from hive import HostProcess, clean_env, short_tmpdir, wait_for
from test_agent_page import Page
from test_attacks_web import post_json

FAILING_CLAUDE = """#!/bin/sh
echo "something broke in claude" >&2
exit 1
"""


@pytest.fixture
def failing_claude():
    bin_dir = short_tmpdir("hhbin")
    bin_dir.chmod(0o755)
    claude = bin_dir / "claude"
    claude.write_text(FAILING_CLAUDE)
    claude.chmod(0o755)
    yield claude
    shutil.rmtree(bin_dir, ignore_errors=True)


def start(claude, **env):
    h = HostProcess(claude_bin=str(claude), env=clean_env(
        ANTHROPIC_API_KEY="sk-ant-test", **env))
    h.start()
    assert h.admin("spawn", name="alice")["ok"]
    return h


def turn_states(h, name):
    path = h.root / "lib" / "agents" / name / "harness" / "hyperhive-events.sqlite"
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            rows = db.execute("select payload from events where kind = 'turn_state_changed' "
                              "order by id").fetchall()
    except sqlite3.OperationalError:
        return []       # the harness has not made its events file yet
    return [json.loads(p) for (p,) in rows]


def failed_of(h, name):
    return h.admin("failed", agent=name)["failed"]


def test_a_failed_turn_is_retried_after_doubling_rests_then_listed(failing_claude):
    claude = failing_claude
    h = start(claude, HYPERHIVE_TURN_ATTEMPTS="3", HYPERHIVE_TURN_RETRY_SECONDS="0.5")
    try:
        msg_id = h.admin("send", to="alice", body="do the thing")["id"]
        [row] = wait_for(lambda: failed_of(h, "alice"), timeout=60, what="the failed row")
        assert row["message_id"] == msg_id and row["attempts"] == 3
        assert row["outcome"] == "failed" and "something broke in claude" in row["stderr_tail"]
        rests = [s["until"] - s["since"] for s in turn_states(h, "alice")
                 if s["state"] == "retrying"]
        assert len(rests) == 2
        assert rests[0] == pytest.approx(0.5, abs=0.2) and rests[1] == pytest.approx(1.0, abs=0.2)
        states = [s["state"] for s in turn_states(h, "alice")]
        assert states.count("thinking") == 3
        # the count is forgotten once the message is handed over
        attempts = h.root / "lib" / "agents" / "alice" / "harness" / "hyperhive-attempts"
        assert not attempts.exists()
        # handed over and acked: a restart does not bring it back
        assert h.admin("restart", name="alice")["ok"]
        wait_for(lambda: any(s["state"] == "idle" for s in turn_states(h, "alice")[-1:]),
                 timeout=30, what="alice back")
        assert h.agent("alice", "requeue")["requeued"] == 0
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


def test_the_attempt_count_outlives_a_restart_of_the_harness(failing_claude):
    claude = failing_claude
    # A long rest: the restart comes while alice waits for her second attempt.
    h = start(claude, HYPERHIVE_TURN_ATTEMPTS="2", HYPERHIVE_TURN_RETRY_SECONDS="300")
    try:
        msg_id = h.admin("send", to="alice", body="do the thing")["id"]
        wait_for(lambda: any(s["state"] == "retrying" for s in turn_states(h, "alice")),
                 timeout=60, what="alice resting before her second attempt")
        attempts = h.root / "lib" / "agents" / "alice" / "harness" / "hyperhive-attempts"
        assert json.loads(attempts.read_text()) == {str(msg_id): 1}
        row = wait_for(lambda: next((r for r in h.admin("status")["agent_statuses"]
                                     if r["name"] == "alice" and r["turn_state"] == "retrying"),
                                    None), timeout=10, what="the host told of the rest")
        assert row["turn_state_until"] > row["turn_state_since"] + 250
        until = row["turn_state_until"]
        assert failed_of(h, "alice") == []
        assert h.admin("restart", name="alice")["ok"]
        # back, the message is redelivered and its rest goes on to the same end
        wait_for(lambda: next((r for r in h.admin("status")["agent_statuses"]
                               if r["name"] == "alice" and r["turn_state"] == "retrying"
                               and r["turn_state_since"] > row["turn_state_since"]), None),
                 timeout=30, what="the rest resumed after the restart")
        resumed = [s for s in turn_states(h, "alice") if s["state"] == "retrying"][-1]
        assert resumed["until"] == pytest.approx(until, abs=0.01)
        assert json.loads(attempts.read_text()) == {str(msg_id): 1}
        # the operator cuts it short: the message fails once more, its second attempt
        page = Page(row["port"], h.cookie)
        assert json.loads(post_json(page, "/api/cancel")[1])["cancelled"] == "rest"
        [failed] = wait_for(lambda: failed_of(h, "alice"), timeout=60, what="the failed row")
        assert failed["message_id"] == msg_id and failed["attempts"] == 2
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


def test_the_operators_cancel_cuts_the_rest_short_and_the_next_attempt_starts(failing_claude):
    h = start(failing_claude, HYPERHIVE_TURN_ATTEMPTS="2", HYPERHIVE_TURN_RETRY_SECONDS="300")
    try:
        msg_id = h.admin("send", to="alice", body="do the thing")["id"]
        wait_for(lambda: any(s["state"] == "retrying" for s in turn_states(h, "alice")),
                 timeout=60, what="alice resting before her second attempt")
        page = Page(next(r for r in h.admin("status")["agent_statuses"]
                         if r["name"] == "alice")["port"], h.cookie)
        status, body = post_json(page, "/api/cancel")
        assert status == 200 and json.loads(body)["cancelled"] == "rest", body[:200]
        [row] = wait_for(lambda: failed_of(h, "alice"), timeout=60, what="the failed row")
        assert row["message_id"] == msg_id and row["attempts"] == 2
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)
