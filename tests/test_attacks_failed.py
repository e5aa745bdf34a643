"""A hostile agent against the failed list, on a real host: it may hand over only a
message it was delivered and has not acked, within the bounds, and it has no way to
retry, discard or read another agent's failed turns.

The harnesses here have no credentials, so they wait for a login and take nothing:
the test's own `recv` on an agent's socket is the agent's.
"""

import sqlite3

import pytest

from test_attacks_bounds import refused, still_serving


@pytest.fixture
def hive(host_with_alice):
    assert host_with_alice.admin("spawn", name="bob")["ok"]
    return host_with_alice


def delivered(h, to, body):
    msg_id = h.admin("send", to=to, body=body)["id"]
    [m] = h.agent(to, "recv", max=1)["messages"]
    assert m["id"] == msg_id
    return msg_id


def failed_rows(h):
    with sqlite3.connect(f"file:{h.root / 'lib' / 'broker.sqlite'}?mode=ro", uri=True) as db:
        return db.execute("select message_id, agent from failed_turns").fetchall()


def test_an_agent_cannot_fail_another_agents_message(hive):
    h = hive
    bobs = delivered(h, "bob", "bob's job")
    refused(h.agent("alice", "fail_message", id=bobs, outcome="failed"), "not_found")
    assert failed_rows(h) == []
    # bob's message is untouched: still his, delivered and unacked
    assert h.agent("bob", "requeue")["requeued"] == 1
    still_serving(h, "alice", "bob")


def test_an_agent_cannot_fail_an_acked_message_or_invent_one(hive):
    h = hive
    done = delivered(h, "alice", "done")
    assert h.agent("alice", "ack", ids=[done])["acked"] == 1
    refused(h.agent("alice", "fail_message", id=done, outcome="failed"), "not_found")
    refused(h.agent("alice", "fail_message", id=10**9, outcome="failed"), "not_found")
    refused(h.agent("alice", "fail_message", id=-1, outcome="failed"), "not_found")
    assert failed_rows(h) == []
    still_serving(h, "alice")


@pytest.mark.parametrize("fields", [
    {"note": "n" * 4097},
    {"stderr_tail": "e" * 4097},
    {"stderr_tail": "é" * 2049},
    {"attempts": 21},
    {"attempts": 0},
    {"attempts": True},
    {"outcome": "rate_limited"},
    {"outcome": "x" * 100_000},
    {"note": ["a list"]}])
def test_oversized_or_odd_fail_message_fields_are_refused(hive, fields):
    h = hive
    msg_id = delivered(h, "alice", "fail me wrongly")
    request = {"id": msg_id, "outcome": "failed", **fields}
    refused(h.agent("alice", "fail_message", **request), "bad_args")
    assert failed_rows(h) == []
    still_serving(h, "alice")


@pytest.mark.parametrize("cmd", ["retry_failed", "discard_failed"])
def test_an_agent_cannot_retry_or_discard_failed_turns(hive, cmd):
    h = hive
    bobs = delivered(h, "bob", "bob's")
    assert h.agent("bob", "fail_message", id=bobs, outcome="failed")["ok"]
    for who in ("alice", "manager", "bob"):
        refused(h.agent(who, cmd, id=bobs), "unknown_cmd")
    assert failed_rows(h) == [(bobs, "bob")]
    still_serving(h, "alice", "bob", "manager")


def test_an_agent_reads_only_its_own_failed_turns(hive):
    h = hive
    bobs = delivered(h, "bob", "bob's secret task")
    assert h.agent("bob", "fail_message", id=bobs, outcome="failed", note="n")["ok"]
    assert h.agent("alice", "failed")["failed"] == []
    refused(h.agent("alice", "failed", agent="bob"), "bad_args")
    assert [r["message_id"] for r in h.agent("bob", "failed")["failed"]] == [bobs]
    assert [r["agent"] for r in h.admin("failed")["failed"]] == ["bob"]
