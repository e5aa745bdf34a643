"""The statements on the message path find their rows by id, however long an inbox's
history grows: sqlite's own query plans, read on a real file full of old messages."""

import pytest

from hyperhive.store import Store

HISTORY = 5000


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "broker.sqlite")
    with store.atomic():
        for n in range(HISTORY):
            store.add_message("bob", "alice", f"old {n}", 1.0)
    with store.atomic():
        taken = store.take_messages("alice", HISTORY, 2.0)
        store.ack("alice", [m["id"] for m in taken[:-40]], 3.0)
    yield store
    store.close()


def plans_of(store, run):
    """EXPLAIN QUERY PLAN of every UPDATE that `run` makes."""
    statements = []
    store._conn.set_trace_callback(statements.append)
    try:
        run()
    finally:
        store._conn.set_trace_callback(None)
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert updates, statements
    return [" ".join(row[3] for row in store._conn.execute("EXPLAIN QUERY PLAN " + s))
            for s in updates]


def unacked_ids(store):
    return [r[0] for r in store._conn.execute(
        "SELECT id FROM messages WHERE acked_at IS NULL ORDER BY id LIMIT 32")]


def test_an_ack_finds_its_messages_by_id_not_by_the_recipients_history(store):
    ids = unacked_ids(store)
    plans = plans_of(store, lambda: store.ack("alice", ids, 4.0))
    assert all("INTEGER PRIMARY KEY" in plan for plan in plans), plans


def test_giving_messages_back_finds_them_by_id_too(store):
    ids = unacked_ids(store)
    plans = plans_of(store, lambda: store.undeliver(ids, "alice"))
    assert all("INTEGER PRIMARY KEY" in plan for plan in plans), plans
