"""A hostile agent against the failed list, on a real host: it may hand over only a
message it was delivered and has not acked, within the bounds, and it has no way to
retry, discard or read another agent's failed turns; the pages' buttons need the
operator's session, and an agent's page reaches only that agent's rows.

The harnesses here have no credentials, so they wait for a login and take nothing:
the test's own `recv` on an agent's socket is the agent's.
"""

import json
import shutil
import sqlite3

import pytest

from hive import HostProcess, free_port, wait_for
from test_agent_page import Page
from test_attacks_bounds import refused, still_serving
from test_attacks_web import anonymous, post_json
from test_dashboard import Dash
from test_e2e import row
from test_terminal import up


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


# -- the pages' buttons ---------------------------------------------------------------------


@pytest.fixture
def paged():
    h = HostProcess(dashboard_port=free_port()).start()
    try:
        for name in ("alice", "bob"):
            assert h.admin("spawn", name=name)["ok"]
        pages = {name: Page(row(h, name)["port"], h.cookie) for name in ("alice", "bob")}
        for page in pages.values():
            wait_for(lambda page=page: up(page), 20, what="the agent's page")
        yield h, Dash(h.dashboard_port, h.cookie), pages
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


def test_the_failed_buttons_need_the_operators_session_and_the_rows_own_page(paged):
    h, dash, pages = paged
    bobs = delivered(h, "bob", "bob's")
    assert h.agent("bob", "fail_message", id=bobs, outcome="failed")["ok"]
    for page in (dash, pages["alice"], pages["bob"]):
        for action in ("retry-failed", "discard-failed"):
            status, body = post_json(anonymous(page), f"/{action}/{bobs}")
            assert status == 401, (status, body[:200])
    # alice's page, with the operator's session, still reaches only alice's rows
    for action in ("retry-failed", "discard-failed"):
        status, body = post_json(pages["alice"], f"/{action}/{bobs}")
        assert status == 404 and json.loads(body)["code"] == "not_found", body[:200]
    assert failed_rows(h) == [(bobs, "bob")]
    status, body = post_json(pages["bob"], f"/discard-failed/{bobs}")
    assert status == 200 and json.loads(body)["ok"], body[:200]
    assert failed_rows(h) == []
    still_serving(h, "alice", "bob")
