"""A send to a receiver parked on an empty inbox hands it the message in the sender's own
transaction. In process, on a real sqlite file: one transaction per round trip, order
kept, nothing lost to a rolled-back batch, nothing handed to a paused agent."""

import gevent
import pytest

from brokers import race, take

# A hand-over is sqlite's: on PostgreSQL every message goes through the table (bus.py).
pytestmark = pytest.mark.sqlite_only


def parked_recv(broker, name, max=1):
    """A recv of `name` that has looked at its inbox and is waiting."""
    receiver = gevent.spawn(broker.messages.recv, name, wait_seconds=20, max=max)
    gevent.sleep(0)
    assert not receiver.ready()
    return receiver


def delivered(receiver):
    reply = receiver.get(timeout=5)
    return [m["body"] for m in reply["messages"]], reply["unread"]


@pytest.fixture
def statements(broker):
    """Every statement the store's connection runs from now on (sqlite's own trace)."""
    seen = []
    broker.store._conn.set_trace_callback(seen.append)
    yield seen
    broker.store._conn.set_trace_callback(None)


def test_a_send_to_a_parked_receiver_commits_once_for_both(broker, statements):
    receiver = parked_recv(broker, "alice")
    statements.clear()
    msg_id = broker.messages.send("operator", "alice", "hello")["id"]
    assert delivered(receiver) == (["hello"], 0)
    assert statements.count("BEGIN") == 1
    assert broker.store.message(msg_id)["delivered_at"] is not None
    kinds = [e["kind"] for e in broker.events_after(0)]
    assert kinds[-2:] == ["sent", "delivered"]


def test_a_message_sent_with_no_one_parked_waits_in_the_inbox(broker):
    broker.messages.send("operator", "alice", "later")
    assert broker.store.unread_count("alice") == 1
    assert [m["body"] for m in take(broker, "alice")] == ["later"]


def test_two_sends_in_one_batch_hand_over_the_first_and_leave_the_second_unread(broker):
    receiver = parked_recv(broker, "alice", max=5)
    race([lambda: broker.messages.send("operator", "alice", "one"),
          lambda: broker.messages.send("bob", "alice", "two")])
    assert delivered(receiver) == (["one"], 1)
    assert [m["body"] for m in take(broker, "alice")] == ["two"]


def test_a_message_put_back_is_read_before_one_sent_after_it(broker):
    old = broker.messages.send("operator", "alice", "old")["id"]
    assert [m["id"] for m in take(broker, "alice")] == [old]
    receiver = parked_recv(broker, "alice")
    # The put-back and the new send commit before the receiver runs again: the new
    # message must not be handed over ahead of the old one.
    race([lambda: broker.messages.undeliver([old], recipient="alice"),
          lambda: broker.messages.send("operator", "alice", "new")])
    assert delivered(receiver) == (["old"], 1)
    assert [m["body"] for m in take(broker, "alice")] == ["new"]


def test_a_hand_over_rolled_back_with_its_batch_still_reaches_the_receiver(broker):
    receiver = parked_recv(broker, "alice")

    def refused():
        raise RuntimeError("this write is refused")
    results = race([lambda: broker.messages.send("operator", "alice", "kept"),
                    lambda: broker.bus.write(refused)])
    assert isinstance(results[1], RuntimeError)
    assert delivered(receiver) == (["kept"], 0)
    assert broker.store.unread_count("alice") == 0


def test_a_paused_agent_is_handed_nothing_until_resumed(broker):
    receiver = parked_recv(broker, "alice")
    broker.agents.set_paused("alice", True)
    broker.messages.send("operator", "alice", "held")
    gevent.sleep(0.05)
    assert not receiver.ready()
    assert broker.store.unread_count("alice") == 1
    broker.agents.set_paused("alice", False)
    assert delivered(receiver) == (["held"], 0)


def test_each_of_two_parked_receivers_gets_one_message(broker):
    first, second = parked_recv(broker, "alice"), parked_recv(broker, "alice")
    broker.messages.send("operator", "alice", "a")
    broker.messages.send("operator", "alice", "b")
    got = sorted(delivered(first)[0] + delivered(second)[0])
    assert got == ["a", "b"]
    assert broker.store.unread_count("alice") == 0
