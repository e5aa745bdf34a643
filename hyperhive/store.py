"""Broker storage: peewee models over one sqlite file or one PostgreSQL database, and
plain-value queries.

Knows nothing of sockets, greenlets or the wire. Every function returns plain
dicts, ints and lists. Writers call these inside `Store.atomic()`; the broker
decides how writes are grouped into transactions.

The schema is schema.py; the rows of threads, of agents, of failed turns and of spend
are threadrows.py, agentrows.py, failedrows.py and spendrows.py, the full-text search
searchrows.py, mixed in here. The few statements on
the message path (send, recv, ack, events) are plain SQL on the same
connection: building a query through peewee costs about 100 µs, the statement
itself a few. They are written in sqlite's dialect, portable where they can be;
on PostgreSQL, pgdb.py runs them as they are.
"""

import json

import orjson
from peewee import fn

from . import pgbatch, pgdb, schema
from .agentrows import AgentRows
from .failedrows import FailedRows
from .hostrows import HostRows
from .names import OPERATOR
from .pgbatch import PgBatchRows
from .schema import MESSAGE_FIELDS, Event, LoginToken, Message, WebSession, row_of
from .searchrows import SearchRows, ensure_indexes
from .spendrows import SpendRows
from .threadrows import ThreadRows
from .workrows import WorkRows

open_database = schema.open_database     # the harness's own databases open the same way

EVENTS_KEPT = pgbatch.EVENTS_KEPT
# A page that reconnects gets at most the newest 500 of the events it missed: a
# stale tab must not make the host re-send its whole history.
EVENTS_REPLAYED = 500


_MESSAGE_COLUMNS = ", ".join(MESSAGE_FIELDS)
_SQL = {
    "insert_message": "INSERT INTO messages (sender, recipient, body, sent_at, in_reply_to, "
                      "redelivered, broadcast, delivered_at) VALUES (?, ?, ?, ?, ?, FALSE, ?, ?)",
    "undelivered": f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE recipient = ? "
                   "AND delivered_at IS NULL ORDER BY id LIMIT ?",
    "unread": "SELECT COUNT(*) FROM messages WHERE recipient = ? AND delivered_at IS NULL",
    "any_unread": "SELECT 1 FROM messages WHERE recipient = ? AND delivered_at IS NULL LIMIT 1",
    "insert_event": "INSERT INTO events (at, kind, data, host) VALUES (?, ?, ?, ?)",
    "trim_events": "DELETE FROM events WHERE id <= ?",
    # PostgreSQL: the oldest unread taken in one statement (sorted by id once returned),
    # each row with the count of unread before the take (the outer query sees the table
    # as it was before the UPDATE of its CTE).
    "take_pg": f"WITH taken AS (UPDATE messages SET delivered_at = ? WHERE id IN (SELECT id "
               "FROM messages WHERE recipient = ? AND delivered_at IS NULL ORDER BY id "
               f"LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING {_MESSAGE_COLUMNS}) "
               "SELECT taken.*, (SELECT COUNT(*) FROM messages WHERE recipient = ? "
               "AND delivered_at IS NULL) FROM taken",
}


# The statements every message runs, prepared once per connection on PostgreSQL.
PG_HOT = ("unread", "any_unread", "take_pg")


def _marks(n):
    return ", ".join("?" * n)


def _delete_some(conn, table, where, before, limit):
    """Delete at most `limit` rows of `table` matching `where` (one `?`: `before`)."""
    return conn.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
                        f"WHERE {where} ORDER BY id LIMIT ?)", (before, limit)).rowcount


class _Transaction:
    """BEGIN ... COMMIT on the raw connection, ROLLBACK when the block (or the commit)
    fails. The group writer opens one per batch; peewee's own transaction objects cost
    more than the statements of a small batch, and nothing inside one nests another."""

    __slots__ = ("conn",)

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN")

    def __exit__(self, kind, _exc, _tb):
        if kind is None:
            try:
                self.conn.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self):
        # A COMMIT that failed (a full disk) may have ended the transaction already.
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


class Store(ThreadRows, AgentRows, FailedRows, SpendRows, SearchRows, HostRows, PgBatchRows,
            WorkRows):
    def __init__(self, where):
        """`where`: the sqlite file's path, or a postgresql:// URL."""
        self.where = where
        self.host = None            # this host's name in a hive of several (events say it)
        self.db, self._conn = schema.open_broker_database(where, schema.MODELS)
        self.on_postgres = pgdb.is_url(where)
        if self.on_postgres:
            self._conn.hot.update(_SQL[n] for n in PG_HOT)
        ensure_indexes(self._conn, postgres=self.on_postgres)
        self._synchronous = 2

    def _run(self, name, params=()):
        return self._conn.execute(_SQL[name], params)

    def atomic(self, durable=True):
        """A transaction. A durable one is fsynced at commit (synchronous=FULL); the
        others (synchronous=NORMAL) survive a killed process and reach the disk with
        the next durable commit or checkpoint."""
        if self.on_postgres:
            return self._conn.transaction(durable)
        level = 2 if durable else 1
        if level != self._synchronous:
            self._conn.execute(f"PRAGMA synchronous = {level}")
            self._synchronous = level
        return _Transaction(self._conn)

    def close(self):
        self.db.close()

    # -- messages ---------------------------------------------------------

    def add_message(self, sender, recipient, body, now, in_reply_to=None, broadcast=False,
                    delivered_at=None):
        """A new message; `delivered_at` when it is handed to its receiver as it is sent."""
        if self.on_postgres:
            return self.queue_message(sender, recipient, body, now, in_reply_to, broadcast,
                                      delivered_at)
        return self._run("insert_message", (sender, recipient, body, now, in_reply_to,
                                            bool(broadcast), delivered_at)).lastrowid

    def take_messages(self, recipient, limit, now):
        """Oldest undelivered messages for `recipient`, marked delivered."""
        return self.take_messages_counted(recipient, limit, now)[0]

    def take_messages_counted(self, recipient, limit, now):
        """take_messages, and how many are left unread when the same statement could
        count them (PostgreSQL), else None."""
        unread = None
        if self.on_postgres:
            got = sorted(self._run("take_pg", (now, recipient, limit, recipient)).fetchall())
            rows = [r[:-1] for r in got]
            if got:
                unread = got[0][-1] - len(got)
        else:
            rows = self._run("undelivered", (recipient, limit)).fetchall()
            if not rows:
                return [], None
            ids = [r[0] for r in rows]
            self._conn.execute(f"UPDATE messages SET delivered_at = ? WHERE id IN "
                               f"({_marks(len(ids))})", (now, *ids))
        return self._taken(rows, now), unread

    @staticmethod
    def _taken(rows, now):
        out = []
        for r in rows:
            row = dict(zip(MESSAGE_FIELDS, r))
            row.update(delivered_at=now, redelivered=bool(row["redelivered"]),
                       broadcast=bool(row["broadcast"]))
            out.append(row)
        return out

    def undeliver(self, ids, recipient=None):
        ids = list(ids)
        sql = (f"UPDATE messages NOT INDEXED SET delivered_at = NULL "
               f"WHERE id IN ({_marks(len(ids))}) "
               "AND acked_at IS NULL")
        if recipient is not None:
            sql += " AND recipient = ?"
            ids.append(recipient)
        return self._conn.execute(sql, ids).rowcount

    def ack(self, recipient, ids, now):
        ids = list(ids)
        if not ids:
            return 0
        # NOT INDEXED: by the ids (the primary key). Left to choose, sqlite walks the
        # (recipient, delivered_at) index over every message the recipient ever took, and
        # an ack grew with the inbox's history (30 ms at 300,000 messages, not 0.1).
        return self._conn.execute(
            f"UPDATE messages NOT INDEXED SET acked_at = ? "
            f"WHERE recipient = ? AND id IN ({_marks(len(ids))}) "
            "AND delivered_at IS NOT NULL AND acked_at IS NULL", (now, recipient, *ids)).rowcount

    def requeue(self, recipient):
        return Message.update(delivered_at=None, redelivered=True).where(
            (Message.recipient == recipient) & Message.delivered_at.is_null(False)
            & Message.acked_at.is_null()).execute()

    def unread_count(self, recipient):
        return self._run("unread", (recipient,)).fetchone()[0]

    def has_unread(self, recipient):
        """Whether `recipient` has an unread message: one index probe, where the count
        walks every unread message."""
        return self._run("any_unread", (recipient,)).fetchone() is not None

    def unread_counts(self):
        q = (Message.select(Message.recipient, fn.COUNT(Message.id).alias("n"))
             .where(Message.delivered_at.is_null()).group_by(Message.recipient))
        return {r.recipient: r.n for r in q}

    def recent(self, recipient, limit):
        q = (Message.select().where(Message.recipient == recipient)
             .order_by(Message.id.desc()).limit(limit))
        return [row_of(r, *MESSAGE_FIELDS) for r in q]

    def recent_all(self, limit):
        q = Message.select().order_by(Message.id.desc()).limit(limit)
        return [row_of(r, *MESSAGE_FIELDS) for r in q]

    def message(self, msg_id):
        r = Message.get_or_none(Message.id == msg_id)
        return row_of(r, *MESSAGE_FIELDS) if r else None

    def last_turn_sources(self):
        """Last delivery time per recipient (a cheap 'last active' figure)."""
        q = (Message.select(Message.recipient, fn.MAX(Message.delivered_at).alias("t"))
             .group_by(Message.recipient))
        return {r.recipient: r.t for r in q}

    # -- dashboard events -------------------------------------------------

    def add_event(self, kind, data, now):
        text = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode()
        seq = self._run("insert_event", (now, kind, text, self.host)).lastrowid
        if seq % pgbatch.TRIM_EVERY == 0:
            self._run("trim_events", (seq - EVENTS_KEPT,))
        return seq

    def events_after(self, seq, limit=EVENTS_REPLAYED):
        """The newest `limit` events after `seq`, oldest first."""
        q = Event.select().where(Event.id > seq).order_by(Event.id.desc()).limit(limit)
        return [{"seq": r.id, "kind": r.kind, "at": r.at, "data": json.loads(r.data)}
                for r in reversed(list(q))]

    def last_event_seq(self):
        return Event.select(fn.MAX(Event.id)).scalar() or 0

    # -- retention: one small batch per call, inside the caller's transaction ----

    def prune_messages(self, before, after_id, limit):
        """Of the `limit` messages after id `after_id`, delete those acked before `before`,
        and the operator's sent before it (the dashboard shows them; nothing acks them);
        never an agent's unacked one, nor one on the failed list. Returns (deleted, the last
        id looked at, or None once the messages looked at reach `before`: ids grow with
        time, the rest are newer).

        Walking ids keeps each batch to `limit` rows however many there are, with no
        index on acked_at for every ack to update."""
        rows = self._conn.execute("SELECT id, recipient, sent_at, acked_at FROM messages "
                                  "WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
        doomed = [i for i, to, sent, acked in rows
                  if (acked is not None and acked < before) or (to == OPERATOR and sent < before)]
        kept = self.listed_as_failed(doomed)     # the failed list still shows them
        doomed = [i for i in doomed if i not in kept]
        if doomed:
            self._conn.execute(f"DELETE FROM messages WHERE id IN ({_marks(len(doomed))})",
                               doomed)
        done = len(rows) < limit or any(sent >= before for _, _, sent, _ in rows)
        return len(doomed), None if done else rows[-1][0]

    def prune_approvals(self, before, limit):
        """Resolved approvals (and their diffs) resolved before `before`; never a pending one."""
        return _delete_some(self._conn, "approvals", "status != 'pending' AND resolved_at < ?",
                            before, limit)

    def prune_questions(self, before, limit):
        """Questions answered (or cancelled, or expired) before `before`; never an open one."""
        return _delete_some(self._conn, "questions", "answered_at < ?", before, limit)

    def prune_reminders(self, before, limit):
        """Reminders delivered before `before`; never a pending one."""
        return _delete_some(self._conn, "reminders", "delivered_at < ?", before, limit)

    # -- operator sessions ------------------------------------------------

    def add_login_token(self, digest, now, expires_at):
        LoginToken.delete().where(LoginToken.expires_at <= now).execute()
        LoginToken.insert(digest=digest, created_at=now, expires_at=expires_at).execute()

    def use_login_token(self, digest, now):
        """Mark a live, unused token used; 1 when this call did it, 0 otherwise.

        One conditional UPDATE: of two redeems of the same token only one can win."""
        return (LoginToken.update(used_at=now)
                .where((LoginToken.digest == digest) & LoginToken.used_at.is_null()
                       & (LoginToken.expires_at > now)).execute())

    def add_session(self, digest, now, expires_at):
        WebSession.delete().where(WebSession.expires_at <= now).execute()
        WebSession.insert(digest=digest, created_at=now, expires_at=expires_at).execute()

    def session_alive(self, digest, now):
        return (WebSession.select().where((WebSession.digest == digest)
                                          & (WebSession.expires_at > now)).exists())

    def remove_session(self, digest):
        return WebSession.delete().where(WebSession.digest == digest).execute()
