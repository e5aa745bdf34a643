"""Messaging in process, on a real sqlite file: order, batches, requeue, broadcast,
threading, wakes, pauses, status. (What crosses a socket is in test_messaging.py.)"""

import json

import pytest

from brokers import take
from hyperhive.errors import BadArgs, Forbidden, NotFound


def send(broker, to, body, sender="operator", **fields):
    return broker.messages.send(sender, to, body, **fields)["id"]


def test_messages_arrive_in_order_in_batches_of_max(broker):
    ids = [send(broker, "alice", f"m{i}") for i in range(5)]
    first = take(broker, "alice", max=2)
    rest = take(broker, "alice")
    assert [m["id"] for m in first + rest] == ids
    assert [m["body"] for m in first + rest] == [f"m{i}" for i in range(5)]
    assert all(m["from"] == "operator" and not m["redelivered"] for m in first + rest)
    assert take(broker, "alice") == []


def test_a_receive_with_no_wait_and_nothing_waiting_answers_empty(broker):
    assert broker.messages.recv("alice", wait_seconds=0) == {"messages": [], "unread": 0}


def test_unacked_messages_come_back_flagged_after_requeue(broker):
    a, b = send(broker, "alice", "first"), send(broker, "alice", "second")
    assert [m["id"] for m in take(broker, "alice")] == [a, b]
    assert broker.messages.ack("alice", [a])["acked"] == 1
    assert broker.messages.requeue("alice")["requeued"] == 1
    assert [(m["id"], m["redelivered"]) for m in take(broker, "alice")] == [(b, True)]
    assert broker.messages.ack("alice", [b])["acked"] == 1
    assert broker.messages.requeue("alice")["requeued"] == 0


def test_a_broadcast_reaches_every_other_agent_once_with_a_hint(broker):
    reply = broker.messages.send("alice", "*", "all hands")
    assert sorted(reply["recipients"]) == ["bob", "manager"]
    for name in ("bob", "manager"):
        got = take(broker, name)
        assert [(m["from"], m["body"], m["broadcast"]) for m in got] == \
            [("alice", "all hands", True)]
        assert "may not need any action" in got[0]["hint"]
    assert take(broker, "alice") == []


def test_sending_to_an_unknown_agent_or_to_oneself_is_refused(broker):
    with pytest.raises(NotFound, match="ghost"):
        send(broker, "ghost", "x", sender="alice")
    with pytest.raises(BadArgs):
        send(broker, "alice", "x", sender="alice")
    with pytest.raises(BadArgs):
        send(broker, "bob", "   ", sender="alice")


def test_a_reply_names_the_message_it_answers_and_that_message_must_exist(broker):
    first = send(broker, "alice", "question?")
    send(broker, "operator", "answer", sender="alice", in_reply_to=first)
    assert broker.messages.inbox()["messages"][0]["in_reply_to"] == first
    with pytest.raises(NotFound):
        send(broker, "operator", "x", sender="alice", in_reply_to=999999)


def test_the_send_policy_allows_only_the_listed_recipients_and_the_manager(broker):
    applied = broker.bus.places.applied_repo("alice")
    applied.mkdir(parents=True)
    (applied / "agent.json").write_text(json.dumps({"allowed_recipients": ["operator"]}))
    with pytest.raises(Forbidden, match="relay"):
        send(broker, "bob", "psst", sender="alice")
    with pytest.raises(Forbidden):
        send(broker, "*", "all", sender="alice")
    with pytest.raises(Forbidden):
        broker.questions.ask("alice", "which?", to="bob")
    send(broker, "operator", "ok", sender="alice")
    send(broker, "manager", "ok", sender="alice")
    send(broker, "alice", "bob is unrestricted", sender="bob")


def test_a_wake_comes_from_its_label_and_a_bad_label_is_refused(broker):
    broker.messages.wake("alice", "webhook: deploy", "done")
    assert [(m["from"], m["body"]) for m in take(broker, "alice")] == \
        [("wake:webhook: deploy", "done")]
    with pytest.raises(BadArgs):
        broker.messages.wake("alice", "two\nlines", "x")


def test_a_paused_agent_keeps_its_messages_until_resumed(broker):
    broker.agents.set_paused("alice", True)
    send(broker, "alice", "while paused")
    assert take(broker, "alice") == []
    assert {r["name"]: r["paused"] for r in broker.status_rows()}["alice"] is True
    broker.agents.set_paused("alice", False)
    assert [m["body"] for m in take(broker, "alice")] == ["while paused"]


def test_status_counts_unread_reminders_and_threads(broker):
    send(broker, "alice", "one")
    broker.reminders.remind("alice", "later", delay_seconds=3600)
    broker.questions.ask("alice", "ok?")
    broker.agents.set_status("alice", "reviewing")
    assert broker.messages.status("alice") == {"unread": 1, "pending_reminders": 1,
                                               "open_threads": 1}
    row = {r["name"]: r for r in broker.status_rows()}["alice"]
    assert (row["unread"], row["pending_reminders"], row["status_text"]) == (1, 1, "reviewing")


def test_undeliver_puts_back_only_the_callers_messages(broker):
    mine = send(broker, "alice", "mine")
    theirs = send(broker, "bob", "theirs")
    take(broker, "alice")
    take(broker, "bob")
    assert broker.messages.undeliver([mine, theirs], recipient="alice")["undelivered"] == 1
    assert [m["id"] for m in take(broker, "alice")] == [mine]
    assert take(broker, "bob") == []


def test_a_system_message_to_no_one_known_is_dropped(broker):
    assert broker.messages.notify("ghost", "hello") is None
    assert broker.messages.notify("alice", "hello", n=1)
    assert [m["from"] for m in take(broker, "alice")] == ["system"]
