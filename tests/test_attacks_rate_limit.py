"""A hostile agent reporting a rate limit against a real host: a time far ahead or one that
is not a time is refused with a sentence, changes no row and no event, and the host goes on;
a sane one shows until its agent reports another status.
"""

import json
import sqlite3
import time

import pytest

from hive import request, wait_for
from hyperhive.bounds import MAX_RATE_LIMIT_REST, RATE_LIMIT_CLOCK_SLACK


def events(h, kind):
    with sqlite3.connect(f"file:{h.root / 'lib' / 'broker.sqlite'}?mode=ro", uri=True) as db:
        return [json.loads(d) for (d,) in db.execute("select data from events where kind = ?",
                                                     (kind,))]


def row(h, name):
    return next(r for r in h.admin("status")["agent_statuses"] if r["name"] == name)


def still_serving(h):
    for path in (h.sock, h.agent_sock("alice")):
        started = time.monotonic()
        assert request(path, {"cmd": "hello"}, timeout=1)["ok"], path
        assert time.monotonic() - started < 1, path
    assert "Traceback" not in h.log_path.read_text(errors="replace")


def settled(h, name):
    """The agent's own harness has reported (it waits for a login): ours come after."""
    wait_for(lambda: row(h, name)["needs_login"], timeout=20, what=f"{name}'s harness")
    return h


FAR = MAX_RATE_LIMIT_REST + RATE_LIMIT_CLOCK_SLACK + 3600


@pytest.mark.parametrize("until, why", [
    (lambda: time.time() + FAR, "a day ahead"),
    (lambda: 4102444800, "a day ahead"),
    (lambda: 1e300, "a unix time"),
    (lambda: -1, "a unix time"),
    (lambda: 0.5, "a unix time"),
    (lambda: "tomorrow", "must be a number"),
    (lambda: True, "must be a number"),
    (lambda: [time.time() + 60], "must be a number"),
    (lambda: {"at": time.time() + 60}, "must be a number"),
])
def test_a_rate_limit_far_ahead_or_not_a_time_is_refused(host_with_alice, until, why):
    h = settled(host_with_alice, "alice")
    value = until()
    reply = h.agent("alice", "report", status="rate_limited", rate_limited_until=value)
    assert reply["ok"] is False and reply["code"] == "bad_args", reply
    assert "rate_limited_until" in reply["error"] and why in reply["error"], reply
    # The whole report is refused: not even its status lands.
    assert not [e for e in events(h, "agent_changed") if "rate_limited_until" in e
                or e.get("status") == "rate_limited"]
    assert row(h, "alice")["rate_limited_until"] is None
    still_serving(h)


def test_a_sane_rate_limit_shows_until_the_agent_is_back(host_with_alice):
    h = settled(host_with_alice, "alice")
    until = time.time() + MAX_RATE_LIMIT_REST
    assert h.agent("alice", "report", rate_limited_until=until, status="rate_limited")["ok"]
    assert row(h, "alice")["rate_limited_until"] == until
    assert h.agent("alice", "report", status="online")["ok"]
    assert row(h, "alice")["rate_limited_until"] is None


def test_another_agent_cannot_see_or_set_alices_rate_limit(host_with_alice):
    h = host_with_alice
    assert h.admin("spawn", name="bob")["ok"]
    settled(settled(h, "alice"), "bob")
    until = time.time() + 600
    # bob's socket speaks for bob alone: there is no field naming another agent.
    reply = h.agent("bob", "report", name="alice", agent="alice", rate_limited_until=until,
                    status="rate_limited")
    assert reply["ok"], reply
    # Read from the events: bob's own harness may report its status again meanwhile,
    # which takes the time off his row.
    changed = events(h, "agent_changed")
    assert not [e for e in changed if e.get("name") == "alice" and "rate_limited_until" in e]
    assert [e["rate_limited_until"] for e in changed
            if e.get("name") == "bob" and "rate_limited_until" in e] == [until]
    assert row(h, "alice")["rate_limited_until"] is None
