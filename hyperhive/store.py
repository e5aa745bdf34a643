"""Broker storage: peewee models over one sqlite file, and plain-value queries.

Knows nothing of sockets, greenlets or the wire. Every function returns plain
dicts, ints and lists. Writers call these inside `Store.atomic()`; the broker
decides how writes are grouped into transactions.

The models define the schema and serve the rare queries. The few statements on
the message path (send, recv, ack, events) are plain SQL on the same
connection: building a query through peewee costs about 100 µs, the statement
itself a few.
"""

import json

from peewee import (BooleanField, FloatField, IntegerField, Model, SqliteDatabase,
                    TextField, fn)

from .names import OPERATOR

EVENTS_KEPT = 2000
# A page that reconnects gets at most the newest 500 of the events it missed: a
# stale tab must not make the host re-send its whole history.
EVENTS_REPLAYED = 500


class _Base(Model):
    class Meta:
        database = None


class Message(_Base):
    sender = TextField()
    recipient = TextField(index=True)
    body = TextField()
    sent_at = FloatField()
    delivered_at = FloatField(null=True)
    acked_at = FloatField(null=True)
    in_reply_to = IntegerField(null=True)
    redelivered = BooleanField(default=False)
    broadcast = BooleanField(default=False)

    class Meta:
        table_name = "messages"
        indexes = ((("recipient", "delivered_at", "id"), False),)


class Approval(_Base):
    agent = TextField()
    kind = TextField()
    commit_ref = TextField(default="")
    fetched_sha = TextField(null=True)
    description = TextField(null=True)
    diff = TextField(null=True)            # the whole diff (bounded by repos.DIFF_MAX_BYTES)
    diff_stat = TextField(null=True)       # its --stat --summary
    requested_at = FloatField()
    status = TextField(default="pending", index=True)
    resolved_at = FloatField(null=True)
    note = TextField(null=True)

    class Meta:
        table_name = "approvals"


class Question(_Base):
    asker = TextField()
    target = TextField(null=True)          # None: the operator
    question = TextField()
    options_json = TextField(default="[]")
    multi = BooleanField(default=False)
    asked_at = FloatField()
    deadline_at = FloatField(null=True)
    answered_at = FloatField(null=True)
    answer = TextField(null=True)
    answerer = TextField(null=True)

    class Meta:
        table_name = "questions"


class Reminder(_Base):
    agent = TextField(index=True)
    message = TextField()
    file_path = TextField(null=True)
    due_at = FloatField(index=True)
    created_at = FloatField()
    delivered_at = FloatField(null=True)
    message_id = IntegerField(null=True)

    class Meta:
        table_name = "reminders"


class Agent(_Base):
    name = TextField(primary_key=True)
    created_at = FloatField()
    paused = BooleanField(default=False)
    status_text = TextField(null=True)
    status_set_at = FloatField(null=True)

    class Meta:
        table_name = "agents"


class AgentDir(_Base):
    """The host's own facts about an agent's dirs: a live agent's, the state kept after a
    destroy, or a draft's. Kept here, never as marker files in those dirs, which agents
    (and the manager) can write. A row means the host made the dirs; purge and discard
    remove only dirs that have one."""
    name = TextField(primary_key=True)
    port = IntegerField()
    stopped = BooleanField(default=False)     # the operator stopped it: no start at boot
    draft = BooleanField(default=False)       # made by request_spawn_draft, never booted
    description = TextField(null=True)
    created_at = FloatField()
    created_by = TextField(null=True)

    class Meta:
        table_name = "agent_dirs"


class AgentSlot(_Base):
    """An agent's uid slot (hyperhive/isolation.py): kept while its files are."""
    name = TextField(primary_key=True)
    slot = IntegerField(unique=True)

    class Meta:
        table_name = "agent_slots"


class Event(_Base):
    at = FloatField()
    kind = TextField()
    data = TextField()

    class Meta:
        table_name = "events"


class LoginToken(_Base):
    """A one-time login link: only the SHA-256 of its token is kept."""
    digest = TextField(primary_key=True)
    created_at = FloatField()
    expires_at = FloatField()
    used_at = FloatField(null=True)

    class Meta:
        table_name = "login_tokens"


class WebSession(_Base):
    """An operator's browser session: only the SHA-256 of its cookie is kept."""
    digest = TextField(primary_key=True)
    created_at = FloatField()
    expires_at = FloatField()

    class Meta:
        table_name = "web_sessions"


MODELS = (Message, Approval, Question, Reminder, Agent, AgentDir, AgentSlot, Event, LoginToken,
          WebSession)


def _row(model_obj, *fields):
    return {f: getattr(model_obj, f) for f in fields}


MESSAGE_FIELDS = ("id", "sender", "recipient", "body", "sent_at", "delivered_at",
                  "acked_at", "in_reply_to", "redelivered", "broadcast")
AGENT_DIR_FIELDS = ("name", "port", "stopped", "draft", "description", "created_at",
                    "created_by")
APPROVAL_FIELDS = ("id", "agent", "kind", "commit_ref", "fetched_sha", "description",
                   "diff", "diff_stat", "requested_at", "status", "resolved_at", "note")


def open_database(path, models, durable):
    """One sqlite file in WAL mode, bound to `models`, tables created.

    One connection shared by every greenlet (not one per thread or greenlet), so
    all writes of a process are serialised on it. `durable` means synchronous=FULL:
    a commit survives a power cut; otherwise NORMAL, which survives a crash.
    """
    db = SqliteDatabase(str(path), thread_safe=False, pragmas={
        "journal_mode": "wal", "synchronous": 2 if durable else 1,
        "foreign_keys": 1, "busy_timeout": 5000})
    db.bind(models)
    db.connect()
    db.create_tables(models)
    return db


def _add_missing_columns(db, model):
    """Give a database written by an older host the columns `model` gained since."""
    table = model._meta.table_name
    have = {c.name for c in db.get_columns(table)}
    for f in model._meta.sorted_fields:
        if f.column_name not in have:
            db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{f.column_name}" {f.field_type}')


_MESSAGE_COLUMNS = ", ".join(MESSAGE_FIELDS)
_SQL = {
    "insert_message": "INSERT INTO messages (sender, recipient, body, sent_at, in_reply_to, "
                      "redelivered, broadcast) VALUES (?, ?, ?, ?, ?, 0, ?)",
    "undelivered": f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE recipient = ? "
                   "AND delivered_at IS NULL ORDER BY id LIMIT ?",
    "unread": "SELECT COUNT(*) FROM messages WHERE recipient = ? AND delivered_at IS NULL",
    "insert_event": "INSERT INTO events (at, kind, data) VALUES (?, ?, ?)",
    "trim_events": "DELETE FROM events WHERE id <= ?",
}


def _marks(n):
    return ", ".join("?" * n)


def _delete_some(conn, table, where, before, limit):
    """Delete at most `limit` rows of `table` matching `where` (one `?`: `before`)."""
    return conn.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
                        f"WHERE {where} ORDER BY id LIMIT ?)", (before, limit)).rowcount


class Store:
    def __init__(self, path):
        self.db = open_database(path, MODELS, durable=True)
        _add_missing_columns(self.db, Approval)
        self._conn = self.db.connection()
        self._synchronous = 2

    def _run(self, name, params=()):
        return self._conn.execute(_SQL[name], params)

    def atomic(self, durable=True):
        """A transaction. A durable one is fsynced at commit (synchronous=FULL); the
        others (synchronous=NORMAL) survive a killed process and reach the disk with
        the next durable commit or checkpoint."""
        level = 2 if durable else 1
        if level != self._synchronous:
            self._conn.execute(f"PRAGMA synchronous = {level}")
            self._synchronous = level
        return self.db.atomic()

    def close(self):
        self.db.close()

    # -- messages ---------------------------------------------------------

    def add_message(self, sender, recipient, body, now, in_reply_to=None, broadcast=False):
        return self._run("insert_message", (sender, recipient, body, now, in_reply_to,
                                            int(broadcast))).lastrowid

    def take_messages(self, recipient, limit, now):
        """Oldest undelivered messages for `recipient`, marked delivered."""
        rows = self._run("undelivered", (recipient, limit)).fetchall()
        if not rows:
            return []
        ids = [r[0] for r in rows]
        self._conn.execute(f"UPDATE messages SET delivered_at = ? WHERE id IN ({_marks(len(ids))})",
                           (now, *ids))
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

    def unread_counts(self):
        q = (Message.select(Message.recipient, fn.COUNT(Message.id).alias("n"))
             .where(Message.delivered_at.is_null()).group_by(Message.recipient))
        return {r.recipient: r.n for r in q}

    def recent(self, recipient, limit):
        q = (Message.select().where(Message.recipient == recipient)
             .order_by(Message.id.desc()).limit(limit))
        return [_row(r, *MESSAGE_FIELDS) for r in q]

    def recent_all(self, limit):
        q = Message.select().order_by(Message.id.desc()).limit(limit)
        return [_row(r, *MESSAGE_FIELDS) for r in q]

    def message(self, msg_id):
        r = Message.get_or_none(Message.id == msg_id)
        return _row(r, *MESSAGE_FIELDS) if r else None

    def last_turn_sources(self):
        """Last delivery time per recipient (a cheap 'last active' figure)."""
        q = (Message.select(Message.recipient, fn.MAX(Message.delivered_at).alias("t"))
             .group_by(Message.recipient))
        return {r.recipient: r.t for r in q}

    # -- approvals --------------------------------------------------------

    def add_approval(self, agent, kind, now, commit_ref="", description=None,
                     fetched_sha=None, diff=None, diff_stat=None):
        return Approval.insert(agent=agent, kind=kind, commit_ref=commit_ref,
                               description=description, fetched_sha=fetched_sha,
                               diff=diff, diff_stat=diff_stat, requested_at=now).execute()

    def approval(self, approval_id):
        r = Approval.get_or_none(Approval.id == approval_id)
        return _row(r, *APPROVAL_FIELDS) if r else None

    def approvals(self, status="pending", agent=None):
        q = Approval.select().order_by(Approval.id)
        if status:
            q = q.where(Approval.status == status)
        if agent:
            q = q.where(Approval.agent == agent)
        return [_row(r, *APPROVAL_FIELDS) for r in q]

    def resolve_approval(self, approval_id, now, status, note):
        """Move a pending approval to `status`: 1 when this call did it, 0 when it was no
        longer pending. One conditional UPDATE, so of racing resolutions only one wins."""
        return (Approval.update(status=status, note=note, resolved_at=now)
                .where((Approval.id == approval_id) & (Approval.status == "pending"))
                .execute())

    def set_approval(self, approval_id, now, **fields):
        if fields.get("status", "pending") != "pending":
            fields["resolved_at"] = now
        return Approval.update(**fields).where(Approval.id == approval_id).execute()

    # -- questions --------------------------------------------------------

    def add_question(self, asker, question, options, multi, now, deadline_at=None, target=None):
        return Question.insert(asker=asker, target=target, question=question,
                               options_json=json.dumps(options), multi=multi,
                               asked_at=now, deadline_at=deadline_at).execute()

    @staticmethod
    def _question_row(r):
        row = _row(r, "id", "asker", "target", "question", "multi", "asked_at",
                   "deadline_at", "answered_at", "answer", "answerer")
        row["options"] = json.loads(r.options_json)
        return row

    def question(self, qid):
        r = Question.get_or_none(Question.id == qid)
        return self._question_row(r) if r else None

    def open_questions(self):
        q = Question.select().where(Question.answered_at.is_null()).order_by(Question.id)
        return [self._question_row(r) for r in q]

    def answer_question(self, qid, answer, answerer, now):
        return Question.update(answer=answer, answerer=answerer, answered_at=now).where(
            (Question.id == qid) & Question.answered_at.is_null()).execute()

    def expired_questions(self, now):
        q = Question.select().where(Question.answered_at.is_null()
                                    & (Question.deadline_at <= now))
        return [self._question_row(r) for r in q]

    def next_question_deadline(self):
        return (Question.select(fn.MIN(Question.deadline_at))
                .where(Question.answered_at.is_null()).scalar())

    # -- reminders --------------------------------------------------------

    def add_reminder(self, agent, message, due_at, now, file_path=None):
        return Reminder.insert(agent=agent, message=message, due_at=due_at,
                               created_at=now, file_path=file_path).execute()

    def due_reminders(self, now, limit=100):
        q = (Reminder.select().where(Reminder.delivered_at.is_null() & (Reminder.due_at <= now))
             .order_by(Reminder.due_at).limit(limit))
        return [_row(r, "id", "agent", "message", "file_path", "due_at") for r in q]

    def mark_reminder(self, rid, message_id, now):
        return Reminder.update(delivered_at=now, message_id=message_id).where(
            (Reminder.id == rid) & Reminder.delivered_at.is_null()).execute()

    def next_reminder_due(self):
        return (Reminder.select(fn.MIN(Reminder.due_at))
                .where(Reminder.delivered_at.is_null()).scalar())

    def pending_reminders(self, agent):
        return Reminder.select().where((Reminder.agent == agent)
                                       & Reminder.delivered_at.is_null()).count()

    def pending_reminder_counts(self):
        q = (Reminder.select(Reminder.agent, fn.COUNT(Reminder.id).alias("n"))
             .where(Reminder.delivered_at.is_null()).group_by(Reminder.agent))
        return {r.agent: r.n for r in q}

    # -- agents -----------------------------------------------------------

    def add_agent(self, name, now):
        Agent.insert(name=name, created_at=now).on_conflict_ignore().execute()

    def remove_agent(self, name):
        return Agent.delete().where(Agent.name == name).execute()

    def agents(self):
        q = Agent.select().order_by(Agent.created_at, Agent.name)
        return [_row(r, "name", "created_at", "paused", "status_text", "status_set_at")
                for r in q]

    def is_paused(self, name):
        return Agent.select().where((Agent.name == name) & Agent.paused).exists()

    def has_agent(self, name):
        return Agent.select().where(Agent.name == name).exists()

    def set_agent(self, name, **fields):
        return Agent.update(**fields).where(Agent.name == name).execute()

    # -- agent dirs ---------------------------------------------------------

    def add_agent_dir(self, name, port, created_at, **fields):
        AgentDir.insert(name=name, port=port, created_at=created_at, **fields).execute()

    def agent_dir(self, name):
        r = AgentDir.get_or_none(AgentDir.name == name)
        return _row(r, *AGENT_DIR_FIELDS) if r else None

    def agent_dirs(self):
        return [_row(r, *AGENT_DIR_FIELDS) for r in AgentDir.select().order_by(AgentDir.name)]

    def set_agent_dir(self, name, **fields):
        return AgentDir.update(**fields).where(AgentDir.name == name).execute()

    def remove_agent_dir(self, name):
        return AgentDir.delete().where(AgentDir.name == name).execute()

    # -- uid slots --------------------------------------------------------

    def agent_slot(self, name, slots, usable=lambda slot: True):
        """The agent's slot, allocated now (the lowest free, `usable` one below `slots`) if
        it has none or its own is not usable any more. None when every slot is taken."""
        row = AgentSlot.get_or_none(AgentSlot.name == name)
        if row is not None:
            if usable(row.slot):
                return row.slot
            row.delete_instance()
        taken = {r.slot for r in AgentSlot.select(AgentSlot.slot)}
        free = next((n for n in range(slots) if n not in taken and usable(n)), None)
        if free is not None:
            AgentSlot.insert(name=name, slot=free).execute()
        return free

    def free_slot(self, name):
        return AgentSlot.delete().where(AgentSlot.name == name).execute()

    # -- dashboard events -------------------------------------------------

    def add_event(self, kind, data, now):
        seq = self._run("insert_event", (now, kind, json.dumps(data))).lastrowid
        if seq % 200 == 0:
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
        never an agent's unacked one. Returns (deleted, the last id looked at, or None once
        the messages looked at reach `before`: ids grow with time, the rest are newer).

        Walking ids keeps each batch to `limit` rows however many there are, with no
        index on acked_at for every ack to update."""
        rows = self._conn.execute("SELECT id, recipient, sent_at, acked_at FROM messages "
                                  "WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
        doomed = [i for i, to, sent, acked in rows
                  if (acked is not None and acked < before) or (to == OPERATOR and sent < before)]
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
