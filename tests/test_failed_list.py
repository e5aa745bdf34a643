"""The failed list in process, on a real sqlite file with a hand-moved clock: a message
set aside by its own agent's harness, the manager told, then retried or discarded."""

import pytest

from brokers import race, system_events, take
from hyperhive import verbs
from hyperhive.errors import BadArgs, NotFound
from hyperhive.names import OPERATOR
from test_dashboard import ESCAPED, XSS, live_page, rendered


def delivered(broker, sender, to, body):
    """A message sent to `to` and taken by it (delivered, not acked): its id."""
    msg_id = broker.messages.send(sender, to, body)["id"]
    assert [m["id"] for m in take(broker, to)] == [msg_id]
    return msg_id


def fail(broker, agent, msg_id, **fields):
    return broker.failed.fail_message(agent, msg_id, fields.pop("outcome", "failed"),
                                      note=fields.pop("note", "claude exited 1"),
                                      stderr_tail=fields.pop("stderr_tail", "boom\n"),
                                      attempts=fields.pop("attempts", 3))


def test_a_failed_message_is_acked_listed_and_the_manager_told(broker, clock):
    msg_id = delivered(broker, "bob", "alice", "build the thing")
    take(broker, "manager")
    clock.advance(5)
    assert fail(broker, "alice", msg_id) == {"id": msg_id, "listed": True}
    [row] = broker.failed.listing(OPERATOR)["failed"]
    assert row == {"message_id": msg_id, "agent": "alice", "outcome": "failed",
                   "note": "claude exited 1", "stderr_tail": "boom\n", "attempts": 3,
                   "failed_at": clock.now, "sender": "bob", "body": "build the thing",
                   "sent_at": clock.now - 5}
    # acked: a requeue (the next harness start) does not bring it back
    assert broker.messages.requeue("alice")["requeued"] == 0
    assert take(broker, "alice") == []
    [told] = system_events(take(broker, "manager"))
    assert told == {"event": "message_failed", "agent": "alice", "message_id": msg_id,
                    "sender": "bob", "outcome": "failed", "note": "claude exited 1",
                    "attempts": 3, "stderr_tail": "boom\n"}


def test_the_managers_own_failed_message_is_told_to_the_operator(broker):
    msg_id = delivered(broker, "alice", "manager", "help")
    fail(broker, "manager", msg_id)
    assert take(broker, "manager") == []
    [told] = [m for m in broker.messages.inbox()["messages"] if m["from"] == "system"]
    assert '"message_failed"' in told["body"] and '"agent": "manager"' in told["body"]


def test_a_retried_message_is_delivered_again_and_leaves_the_list(broker):
    msg_id = delivered(broker, "operator", "alice", "try me")
    fail(broker, "alice", msg_id)
    assert broker.failed.retry(msg_id) == {"id": msg_id, "agent": "alice", "retried": True}
    assert broker.failed.listing(OPERATOR)["failed"] == []
    [again] = take(broker, "alice")
    assert (again["id"], again["body"], again["redelivered"]) == (msg_id, "try me", True)
    # once more it is the agent's to ack, or to fail again
    assert broker.messages.ack("alice", [msg_id])["acked"] == 1


def test_a_discarded_message_leaves_the_list_and_stays_handled(broker):
    msg_id = delivered(broker, "operator", "alice", "forget me")
    fail(broker, "alice", msg_id)
    assert broker.failed.discard(msg_id)["discarded"] is True
    assert broker.failed.listing(OPERATOR)["failed"] == []
    assert broker.messages.requeue("alice")["requeued"] == 0
    with pytest.raises(NotFound):
        broker.failed.retry(msg_id)
    with pytest.raises(NotFound):
        broker.failed.discard(msg_id)


def test_of_a_racing_retry_and_discard_exactly_one_wins(broker):
    msg_id = delivered(broker, "operator", "alice", "once")
    fail(broker, "alice", msg_id)
    results = race([lambda: broker.failed.retry(msg_id), lambda: broker.failed.discard(msg_id)])
    assert sum(isinstance(r, dict) for r in results) == 1
    assert sum(isinstance(r, NotFound) for r in results) == 1


def test_an_agent_cannot_fail_another_agents_message_an_acked_one_or_none(broker):
    bobs = delivered(broker, "operator", "bob", "bob's work")
    with pytest.raises(NotFound):
        fail(broker, "alice", bobs)
    acked = delivered(broker, "operator", "alice", "done already")
    broker.messages.ack("alice", [acked])
    with pytest.raises(NotFound):
        fail(broker, "alice", acked)
    undelivered = broker.messages.send("operator", "alice", "not taken yet")["id"]
    with pytest.raises(NotFound):
        fail(broker, "alice", undelivered)
    with pytest.raises(NotFound):
        fail(broker, "alice", 999_999)
    # the same message cannot be listed twice
    taken = [m["id"] for m in take(broker, "alice")]
    fail(broker, "alice", taken[0])
    with pytest.raises(NotFound):
        fail(broker, "alice", taken[0])
    assert [r["message_id"] for r in broker.failed.listing(OPERATOR)["failed"]] == taken
    # bob's message is still bob's, delivered and unacked
    assert broker.messages.requeue("bob")["requeued"] == 1


def test_an_agent_lists_only_its_own_failed_turns(broker):
    fail(broker, "alice", delivered(broker, "operator", "alice", "a"))
    fail(broker, "bob", delivered(broker, "operator", "bob", "b"))
    assert [r["agent"] for r in broker.failed.listing("alice")["failed"]] == ["alice"]
    with pytest.raises(BadArgs):
        broker.failed.listing("alice", agent="bob")
    assert {r["agent"] for r in broker.failed.listing(OPERATOR)["failed"]} == {"alice", "bob"}
    assert [r["agent"] for r in broker.failed.listing(OPERATOR, agent="bob")["failed"]] == ["bob"]


def test_a_page_of_one_agent_retries_only_that_agents_row(broker):
    msg_id = delivered(broker, "operator", "alice", "mine")
    fail(broker, "alice", msg_id)
    with pytest.raises(NotFound):
        broker.failed.retry(msg_id, agent="bob")
    with pytest.raises(NotFound):
        broker.failed.discard(msg_id, agent="bob")
    assert broker.failed.discard(msg_id, agent="alice")["discarded"]


def test_the_outcome_and_attempts_are_checked(broker):
    msg_id = delivered(broker, "operator", "alice", "x")
    with pytest.raises(BadArgs):
        fail(broker, "alice", msg_id, outcome="rate_limited")
    with pytest.raises(BadArgs):
        fail(broker, "alice", msg_id, attempts=0)
    assert broker.failed.listing(OPERATOR)["failed"] == []


def test_retention_keeps_a_listed_message_past_its_age(broker, clock):
    msg_id = delivered(broker, "operator", "alice", "old")
    fail(broker, "alice", msg_id)
    gone = delivered(broker, "operator", "alice", "old and done")
    broker.messages.ack("alice", [gone])
    clock.advance(400 * 86400)
    broker.prune(pause=0)
    assert broker.store.message(gone) is None
    assert broker.failed.listing(OPERATOR)["failed"][0]["body"] == "old"
    broker.failed.retry(msg_id)
    assert [m["body"] for m in take(broker, "alice")] == ["old"]


def test_the_failed_list_verbs_are_the_operators_and_fail_message_the_harness(broker):
    assert "fail_message" in verbs.table("agent") and "fail_message" not in verbs.table("admin")
    for cmd in ("retry_failed", "discard_failed"):
        assert cmd in verbs.table("admin")
        assert cmd not in verbs.table("agent") and cmd not in verbs.table("manager")
    assert "fail_message" not in verbs.forwarded("agent")


def test_the_dashboard_panel_follows_the_list_and_escapes_what_agents_wrote(broker):
    live, hello, seq = live_page(broker)
    assert 'id="failed-count" hx-swap-oob="true">0<' in hello["failed"]
    msg_id = delivered(broker, "operator", "alice", XSS)
    fail(broker, "alice", msg_id, note=XSS, stderr_tail=XSS)
    added = dict(rendered(broker, live, seq))["failed_turn_added"]
    html = added["failed"]
    assert f'id="failed-{msg_id}"' in html and "is-new" in html
    assert XSS not in html and html.count(ESCAPED) == 3        # the body, note and stderr
    assert 'id="failed-count" hx-swap-oob="true">1<' in html
    assert f'action="/retry-failed/{msg_id}"' in html
    assert f'data-tag="failed-{msg_id}"' in added["notify"]
    seq = broker.last_seq()
    broker.failed.discard(msg_id)
    removed = dict(rendered(broker, live, seq))["failed_turn_removed"]
    assert f'id="failed-{msg_id}"' not in removed["failed"]
    assert 'id="failed-count" hx-swap-oob="true">0<' in removed["failed"]
