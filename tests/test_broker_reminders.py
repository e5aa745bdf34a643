"""Reminders in process, on a real sqlite file with a hand-moved clock: delivered once when
due, never early, their bounds, file_path, and restarts of the broker."""

import pytest

from brokers import Clock, race, take
from hyperhive.broker import Broker
from hyperhive.errors import BadArgs, Conflict
from hyperhive.store import Store


def test_a_reminder_is_delivered_once_when_due_and_not_before(broker, clock):
    broker.reminders.remind("alice", "check the build", delay_seconds=60)
    assert broker.messages.status("alice")["pending_reminders"] == 1
    clock.advance(59)
    broker.reminders.run_due()
    assert take(broker, "alice") == []
    clock.advance(1)
    broker.reminders.run_due()
    broker.reminders.run_due()
    assert [(m["from"], m["body"]) for m in take(broker, "alice")] == \
        [("reminder", "check the build")]
    assert broker.messages.status("alice")["pending_reminders"] == 0


def test_a_reminder_needs_exactly_one_time_and_a_long_one_a_file(broker):
    with pytest.raises(BadArgs):
        broker.reminders.remind("alice", "x")
    with pytest.raises(BadArgs):
        broker.reminders.remind("alice", "x", delay_seconds=1, at=1)
    with pytest.raises(BadArgs, match="file_path"):
        broker.reminders.remind("alice", "x" * 5000, delay_seconds=1)
    with pytest.raises(BadArgs):
        broker.reminders.remind("alice", "x", delay_seconds=1, file_path="/etc/passwd")


def test_a_reminder_with_a_file_path_writes_its_text_there(broker):
    (broker.bus.places.lib / "agents" / "alice" / "state").mkdir(parents=True)
    text = "y" * 6000
    broker.reminders.remind("alice", text, delay_seconds=0,
                            file_path="/state/reminders/r1.txt")
    broker.reminders.run_due()
    assert "/state/reminders/r1.txt" in take(broker, "alice")[0]["body"]
    written = broker.bus.places.lib / "agents" / "alice" / "state" / "reminders" / "r1.txt"
    assert written.read_text() == text


def test_an_agent_may_keep_only_so_many_reminders_pending(broker):
    for i in range(100):
        broker.reminders.remind("alice", f"r{i}", delay_seconds=3600)
    with pytest.raises(Conflict, match="pending reminders"):
        broker.reminders.remind("alice", "one more", delay_seconds=3600)


def test_racing_timer_passes_deliver_a_due_reminder_once(broker, clock):
    broker.reminders.remind("alice", "once", delay_seconds=5)
    clock.advance(5)
    race([broker.reminders.run_due] * 6)
    assert [m["body"] for m in take(broker, "alice")] == ["once"]


def test_a_reminder_set_before_a_restart_comes_due_after_it(broker, clock):
    broker.reminders.remind("alice", "after the restart", delay_seconds=60)
    places, where = broker.bus.places, broker.store.where
    broker.stop()
    broker.store.close()
    store = Store(where)
    later = Clock(clock.now + 60)
    again = Broker(store, places, clock=later)
    try:
        again.reminders.run_due()
        assert [m["body"] for m in take(again, "alice")] == ["after the restart"]
    finally:
        again.stop()
        store.close()
