"""What a transaction writes on PostgreSQL, written together: its messages and its
dashboard events are inserted just before it commits, one statement each, rather than
one round trip to the server per row.

A message's id is taken from its sequence when it is posted (ids are fetched a few at a
time, more as the transaction posts more), so the write that posts it can name it at
once, in its reply, in its `sent` event, in the reminder it delivers. The row itself is
in the table only from the insert before the commit on: nothing in a transaction reads
back a message posted in the same one (a message is delivered, acked or put back only
in a later one).

An event is a dict {"seq", "kind", "at", "data"}; its `seq` is filled in by its insert,
before the commit, so whoever publishes it after the commit finds it there. In a hive of
several hosts the same commit carries a NOTIFY naming the host, the range of ids it
wrote and their kinds, so the others read exactly those, and only when they have a use
for them (hosts.py).
"""

import orjson

EVENTS_KEPT = 2000
TRIM_EVERY = 200
PREPARED_ROWS = 4             # an insert of this many rows or fewer is prepared
FIRST_IDS = 4                 # message ids fetched first in a transaction; then doubling
_MESSAGE_COLUMNS = ("id", "sender", "recipient", "body", "sent_at", "in_reply_to",
                    "redelivered", "broadcast", "delivered_at")


class PgBatchRows:
    """Mixed into Store on PostgreSQL: its `_conn` is a PgConnection."""

    _batch_of = None              # the transaction the queues below belong to
    events_channel = None         # set in a hive of several: where commits announce events

    def _batch(self):
        """This transaction's queues (a new transaction's are empty: one that rolled back
        leaves its own behind)."""
        conn = self._conn
        if self._batch_of != conn.transactions:
            self._batch_of = conn.transactions
            self._events, self._messages, self._ids, self._fetched = [], [], [], 0
            conn.before_commit(self._insert_batch)
        return self

    def queue_message(self, sender, recipient, body, now, in_reply_to, broadcast,
                      delivered_at):
        """Inside a transaction: a message's id now, its row just before the commit."""
        batch = self._batch()
        if not batch._ids:
            batch._fetched = max(FIRST_IDS, 2 * batch._fetched)
            batch._ids = [r[0] for r in self._conn.run(
                "SELECT nextval('messages_id_seq') FROM generate_series(1, %s)",
                (batch._fetched,), prepare=True).fetchall()]
        msg_id = batch._ids.pop(0)
        batch._messages.append((msg_id, sender, recipient, body, now, in_reply_to, False,
                                bool(broadcast), delivered_at))
        return msg_id

    def queue_event(self, event):
        """Inside a transaction: insert `event` just before it commits."""
        self._batch()._events.append(event)

    def _insert_batch(self):
        messages, self._messages = self._messages, []
        events, self._events = self._events, []
        if messages:
            self._insert_rows("messages", _MESSAGE_COLUMNS, messages)
        if events:
            self._insert_events(events)

    def _insert_rows(self, table, columns, rows, returning=""):
        marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
        return self._conn.run(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            f"{', '.join([marks] * len(rows))}{returning}",
            [v for row in rows for v in row], prepare=len(rows) <= PREPARED_ROWS)

    def _insert_events(self, events):
        rows = [(e["at"], e["kind"], orjson.dumps(e["data"], option=orjson.OPT_NON_STR_KEYS)
                 .decode(), self.host) for e in events]
        ids = sorted(r[0] for r in self._insert_rows(
            "events", ("at", "kind", "data", "host"), rows, " RETURNING id").fetchall())
        for e, seq in zip(events, ids):
            e["seq"] = seq
        if ids[-1] > EVENTS_KEPT and ids[-1] // TRIM_EVERY != (ids[0] - 1) // TRIM_EVERY:
            self._conn.run("DELETE FROM events WHERE id <= %s", (ids[-1] - EVENTS_KEPT,))
        if self.events_channel:
            kinds = ",".join(sorted({e["kind"] for e in events}))
            self._conn.with_commit("SELECT pg_notify(%s, %s)", (
                self.events_channel, f"{self.host} {ids[0]} {ids[-1]} {kinds}"))
