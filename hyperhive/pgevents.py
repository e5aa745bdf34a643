"""The dashboard's events on PostgreSQL: a transaction's events are inserted together, in
one statement just before it commits, rather than one round trip to the server each.

An event is a dict {"seq", "kind", "at", "data"}; its `seq` is filled in by that insert,
before the commit, so whoever publishes it after the commit finds it there. In a hive of
several hosts the same commit carries a NOTIFY naming the host, the range of ids it
wrote and their kinds, so the others read exactly those, and only when they have a use
for them (hosts.py).
"""

import orjson

EVENTS_KEPT = 2000
TRIM_EVERY = 200
PREPARED_ROWS = 4             # an insert of this many events or fewer is prepared


class PgEventRows:
    """Mixed into Store on PostgreSQL: its `_conn` is a PgConnection."""

    _queued = ()
    _queued_in = None             # the transaction the queue belongs to
    events_channel = None         # set in a hive of several: where commits announce events

    def queue_event(self, event):
        """Inside a transaction: insert `event` just before it commits."""
        conn = self._conn
        if self._queued_in != conn.transactions:
            # A new transaction (an earlier one that rolled back left its queue behind).
            self._queued, self._queued_in = [], conn.transactions
            conn.before_commit(self._insert_events)
        self._queued.append(event)

    def _insert_events(self):
        events, self._queued = self._queued, []
        if not events:
            return
        rows = ", ".join(["(%s, %s, %s, %s)"] * len(events))
        params = []
        for e in events:
            text = orjson.dumps(e["data"], option=orjson.OPT_NON_STR_KEYS).decode()
            params += [e["at"], e["kind"], text, self.host]
        ids = sorted(r[0] for r in self._conn.run(
            f"INSERT INTO events (at, kind, data, host) VALUES {rows} RETURNING id",
            params, prepare=len(events) <= PREPARED_ROWS).fetchall())
        for e, seq in zip(events, ids):
            e["seq"] = seq
        if ids[-1] > EVENTS_KEPT and ids[-1] // TRIM_EVERY != (ids[0] - 1) // TRIM_EVERY:
            self._conn.run("DELETE FROM events WHERE id <= %s", (ids[-1] - EVENTS_KEPT,))
        if self.events_channel:
            kinds = ",".join(sorted({e["kind"] for e in events}))
            self._conn.with_commit("SELECT pg_notify(%s, %s)", (
                self.events_channel, f"{self.host} {ids[0]} {ids[-1]} {kinds}"))
