"""End to end on the real claude CLI against the scripted API: a message whose turn
fails three times lands on the failed list, the manager is told, and `ctl retry`
gives it back to the agent, whose now-succeeding turn acks it."""

import json

import pytest

from anthropic_stub import Stub
from hive import wait_for
from test_e2e import events, inbox_bodies, spawn, start_hive


@pytest.fixture
def stub():
    with Stub() as s:
        yield s


@pytest.fixture
def hive(stub):
    h = start_hive(stub, HYPERHIVE_TURN_ATTEMPTS="3", HYPERHIVE_TURN_RETRY_SECONDS="0.5")
    yield h
    h.stop()


def told_manager(h, event):
    return [json.loads(m["body"]) for m in h.agent("manager", "recent", limit=50)["messages"]
            if m["from"] == "system" and f'"{event}"' in m["body"]]


def test_a_turn_failing_three_times_is_listed_told_and_retried_by_the_operator(hive, stub):
    h = hive
    spawn(h, "alice")
    stub.add_rule(r"flaky job", agent="alice", times=3,
                  steps=[{"error": 500, "message": "the model fell over"}])
    msg_id = h.admin("send", to="alice", body="please do the flaky job")["id"]
    [row] = wait_for(lambda: h.admin("failed")["failed"], timeout=90,
                     what="alice's message on the failed list")
    assert (row["message_id"], row["agent"], row["attempts"]) == (msg_id, "alice", 3)
    assert row["outcome"] == "failed" and "500" in row["note"]
    assert row["body"] == "please do the flaky job" and row["sender"] == "operator"
    flaky = [r for r in stub.main_requests() if "flaky job" in r["last_user_text"]]
    assert len(flaky) == 3
    ends = [e["outcome"] for _, e in events(h, "alice", "turn_end")]
    assert ends == ["failed"] * 3
    [told] = wait_for(lambda: told_manager(h, "message_failed"), timeout=30,
                      what="the manager told")
    assert (told["agent"], told["message_id"], told["attempts"]) == ("alice", msg_id, 3)
    # acked: nothing comes back by itself
    assert h.agent("alice", "requeue")["requeued"] == 0

    out = h.ctl("failed", "alice")
    assert out.returncode == 0 and f"#{msg_id}" in out.stdout and "3 attempts" in out.stdout
    stub.add_rule(r"flaky job", agent="alice", steps=[
        {"tool": "mcp__hyperhive__send", "input": {"to": "operator", "body": "flaky job done"}},
        {"text": "Done."}])
    out = h.ctl("retry", str(msg_id))
    assert out.returncode == 0, out.stderr
    assert h.admin("failed")["failed"] == []
    wait_for(lambda: "flaky job done" in inbox_bodies(h), timeout=60, what="the retried turn")
    wait_for(lambda: [e["outcome"] for _, e in events(h, "alice", "turn_end")][-1:] == ["ok"],
             timeout=30, what="the retried turn's end")
    starts = [e for _, e in events(h, "alice", "turn_start") if e["id"] == msg_id]
    assert len(starts) == 4 and starts[-1]["redelivered"] is True
    # the succeeding turn acked it: a requeue puts nothing back, the list stays empty
    wait_for(lambda: h.agent("alice", "requeue")["requeued"] == 0, timeout=10,
             what="the ack")
    assert h.admin("failed")["failed"] == []
    assert h.ctl("discard", str(msg_id)).returncode == 1
