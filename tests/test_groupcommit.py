"""Group commit against a real sqlite file: what each batch's commit promises."""

import gevent

from hyperhive.groupcommit import GroupWriter
from hyperhive.store import Store


def synchronous(store):
    return store.db.execute_sql("PRAGMA synchronous").fetchone()[0]


def test_a_batch_is_fsynced_when_any_write_in_it_asks(tmp_path):
    store = Store(tmp_path / "broker.sqlite")
    seen = []

    def atomic(durable):
        seen.append(durable)
        return store.atomic(durable)
    writer = GroupWriter(atomic)
    try:
        def post(body, durable):
            return writer.write(lambda: (store.add_message("a", "b", body, 1.0),
                                         synchronous(store))[1], durable=durable)
        assert post("relaxed", False) == 1          # NORMAL: no fsync of its own
        assert post("durable", True) == 2           # FULL
        # Two writers queued together: one durable write makes the whole batch durable.
        both = [gevent.spawn(post, "x", False), gevent.spawn(post, "y", True)]
        gevent.joinall(both, raise_error=True)
        assert [g.value for g in both] == [2, 2]
        assert seen == [False, True, True]
    finally:
        writer.stop()
    assert [m["body"] for m in store.recent("b", 10)] == ["y", "x", "durable", "relaxed"]
    store.close()


def test_a_failing_write_fails_alone(tmp_path):
    store = Store(tmp_path / "broker.sqlite")
    writer = GroupWriter(store.atomic)

    def bad():
        store.add_message("a", "b", "rolled back", 1.0)
        raise ValueError("refused")
    try:
        jobs = [gevent.spawn(writer.write, lambda: store.add_message("a", "b", "kept", 1.0)),
                gevent.spawn(writer.write, bad, False)]
        gevent.joinall(jobs)
        assert jobs[0].successful() and isinstance(jobs[1].exception, ValueError)
    finally:
        writer.stop()
    assert [m["body"] for m in store.recent("b", 10)] == ["kept"]
    store.close()
