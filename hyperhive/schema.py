"""The broker's schema: peewee models over one sqlite file (or one PostgreSQL database),
and how it is opened.

The models define the tables and serve the rare queries; the store modules
(store.py and its row groups) hold the statements.
"""

from peewee import (
    BooleanField,
    CompositeKey,
    FloatField,
    IntegerField,
    Model,
    SqliteDatabase,
    TextField,
)


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
    host = TextField(null=True)             # its home host (None: written by a lone host)

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
    host = TextField(null=True)               # the host whose disk holds them

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
    host = TextField(null=True)             # the host that wrote it (several hosts only)

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


class FailedTurn(_Base):
    """A message whose turns kept failing: acked, kept here until the operator retries it
    (the message goes back into the inbox) or discards it. The message row stays as long
    as this one does (retention skips it)."""
    message_id = IntegerField(primary_key=True)
    agent = TextField(index=True)
    outcome = TextField()
    note = TextField(default="")
    stderr_tail = TextField(default="")
    attempts = IntegerField()
    failed_at = FloatField()

    class Meta:
        table_name = "failed_turns"


class Spend(_Base):
    """What an agent spent on one day (the host's local date), and what the operator did
    about its budget that day. A new day is a new row: budgets reset at midnight."""
    agent = TextField()
    day = TextField()                       # YYYY-MM-DD
    usd = FloatField(default=0.0)           # the costs its harness reported for its turns
    turns = IntegerField(default=0)
    raised_usd = FloatField(default=0.0)    # the operator's raises for the day, summed
    lifted = BooleanField(default=False)    # the operator lifted the budget for the day
    told = BooleanField(default=False)      # budget_reached went out for the current limit

    class Meta:
        table_name = "spend"
        primary_key = CompositeKey("agent", "day")


class Host(_Base):
    """A host of a hive of several (one database): its heartbeat, and what it last said
    about the agents it runs, for every other host's dashboard."""
    name = TextField(primary_key=True)
    started_at = FloatField()
    seen_at = FloatField()
    pid = IntegerField(null=True)
    root = TextField(null=True)             # where its agents' dirs are, on its own disk
    agents_json = TextField(default="{}")   # name -> what its status row says of it

    class Meta:
        table_name = "hosts"


class Work(_Base):
    """A verb one host asks another to carry out (worklist.py): a lifecycle verb for an
    agent that the other host runs, or taking a moved agent in."""
    host = TextField(index=True)            # the host that carries it out
    verb = TextField()
    args = TextField(default="{}")          # JSON
    caller = TextField()
    requester = TextField()                 # the host told when it is done
    created_at = FloatField()
    taken_at = FloatField(null=True)
    done_at = FloatField(null=True)
    result = TextField(null=True)           # JSON: the verb's reply
    error_code = TextField(null=True)
    error_message = TextField(null=True)

    class Meta:
        table_name = "work"


MODELS = (Message, Approval, Question, Reminder, Agent, AgentDir, AgentSlot, Event, LoginToken,
          WebSession, FailedTurn, Spend, Host, Work)


def row_of(model_obj, *fields):
    return {f: getattr(model_obj, f) for f in fields}


MESSAGE_FIELDS = ("id", "sender", "recipient", "body", "sent_at", "delivered_at",
                  "acked_at", "in_reply_to", "redelivered", "broadcast")
AGENT_DIR_FIELDS = ("name", "port", "stopped", "draft", "description", "created_at",
                    "created_by", "host")
SPEND_FIELDS = ("agent", "day", "usd", "turns", "raised_usd", "lifted", "told")
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


def open_broker_database(where, models):
    """The broker's database: the sqlite file at `where` (a path), or the PostgreSQL
    database it names (a postgresql:// URL). Tables are created, older ones given
    their new columns. Returns (the peewee database, the connection the store's
    statements run on)."""
    from . import pgdb
    if pgdb.is_url(where):
        pg = pgdb.PgConnection(pgdb.check_url(where))
        db = pgdb.HivePostgres(pg)
        db.bind(models)
        db.create_tables(models)
        conn = pg
    else:
        db = open_database(where, models, durable=True)
        conn = db.connection()
    for model in models:
        add_missing_columns(db, model)
    return db, conn


def add_missing_columns(db, model):
    """Give a database written by an older host the columns `model` gained since."""
    table = model._meta.table_name
    have = {c.name for c in db.get_columns(table)}
    for f in model._meta.sorted_fields:
        if f.column_name not in have:
            db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{f.column_name}" {f.field_type}')
