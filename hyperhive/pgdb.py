"""The broker's database on PostgreSQL: the same statements as on sqlite, over psycopg2.

The store writes its hot statements as plain SQL in sqlite's dialect (`?` marks,
`lastrowid`), portable where it can be (TRUE and FALSE, ON CONFLICT, no rowid).
`PgConnection.execute` takes them as they are: it turns `?` into `%s`, drops sqlite's
planner hints (`NOT INDEXED`) and has an INSERT into a table with a serial id say
which id it made, so a cursor here answers the same `lastrowid`, `rowcount` and
`fetch*` a sqlite cursor does.

Under gevent a psycopg2 connection serves one statement at a time, and waits for
the server without blocking the process (psycogreen's wait callback, installed by
`connect`). So there are two connections: the transaction's, which the group writer
holds from BEGIN to COMMIT (every statement of the greenlet that began it runs
there), and a shared one in autocommit for every other greenlet's reads and lone
writes, one statement at a time. A read never lands inside a writer's open
transaction, where an error of its own would abort the writer's batch.

The peewee models run on `HivePostgres`, a PostgresqlDatabase whose statements go
through the same two connections.
"""

import re
from typing import ClassVar

import psycopg2
import psycopg2.extensions
from gevent import getcurrent
from gevent.lock import Semaphore
from peewee import PostgresqlDatabase

from .errors import HiveError, Unavailable

URL_SCHEMES = ("postgresql://", "postgres://")

# Tables whose rows get a serial id: an INSERT into one answers it (RETURNING id).
SERIAL_TABLES = ("messages", "events", "approvals", "questions", "reminders", "work")
_INSERT_INTO = re.compile(r"\s*INSERT\s+INTO\s+(\w+)", re.IGNORECASE)


def is_url(where):
    return isinstance(where, str) and where.startswith(URL_SCHEMES)


def check_url(url):
    """Refuse a URL that carries a password: a command line is readable by every user of
    the machine (/proc/PID/cmdline), agents' uids included."""
    from urllib.parse import urlsplit
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise HiveError(f"--broker: not a usable URL ({exc})") from None
    if parts.password:
        raise HiveError("--broker: the URL carries a password, and a command line is "
                        "readable by every user of this machine (agents included). Put the "
                        "password in the host's ~/.pgpass or PGPASSFILE, or its environment "
                        "(PGPASSWORD), and name the database without it.")
    return url


def green():
    """psycopg2 waits for the server by yielding to other greenlets (psycogreen)."""
    if psycopg2.extensions.get_wait_callback() is None:
        from psycogreen.gevent import patch_psycopg
        patch_psycopg()


UNREACHABLE = "the hive's database is unreachable ({}); nothing was changed, try again"
_LOST = (psycopg2.OperationalError, psycopg2.InterfaceError)


def connect(url, role="hyperhive"):
    """A connection in autocommit; `role` names it in pg_stat_activity."""
    green()
    try:
        conn = psycopg2.connect(url, application_name=role)
    except _LOST as exc:
        raise Unavailable(UNREACHABLE.format(_first_line(exc))) from None
    conn.autocommit = True
    return conn


def _first_line(exc):
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def translate(sql):
    """sqlite's dialect as the store writes it -> (psycopg2's, whether it returns an id)."""
    text = sql.replace("%", "%%").replace("?", "%s").replace(" NOT INDEXED", "")
    m = _INSERT_INTO.match(text)
    returning = bool(m) and m.group(1) in SERIAL_TABLES and "RETURNING" not in text.upper()
    if returning:
        text += " RETURNING id"
    return text, returning


class PgCursor:
    """What a sqlite3 cursor answers, over a psycopg2 cursor that has run."""

    __slots__ = ("_cursor", "_first", "lastrowid", "rowcount")

    def __init__(self, cursor, returning):
        self._cursor = cursor
        self.rowcount = cursor.rowcount
        self._first = None
        self.lastrowid = None
        if returning:
            row = cursor.fetchone()
            self.lastrowid = row[0] if row else None

    def fetchone(self):
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self):
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self):
        return iter(self.fetchall())


class PgConnection:
    def __init__(self, url):
        self.url = url
        self._own = connect(url)         # the open transaction's
        self._shared = connect(url)      # everyone else's, in autocommit
        self._own_lock = Semaphore()     # held from BEGIN to COMMIT or ROLLBACK
        self._shared_lock = Semaphore()  # one statement at a time
        self._owner = None
        self._opening = None             # what the open transaction's first statement opens with
        self._closing = []
        self._before_commit = []
        self.transactions = 0            # how many were begun: tells one from the next
        self._cache = {}
        self._trace = None
        self.hot = set()                 # statements (sqlite's dialect) to prepare
        self._names = {}                 # prepared statement -> its name
        self._done = {}                  # connection -> the names prepared on it

    def set_trace_callback(self, fn):
        """Call fn(statement) for each statement run, as sqlite3's own hook does."""
        self._trace = fn

    @property
    def in_transaction(self):
        return self._owner is not None

    # -- transactions ---------------------------------------------------------------

    def begin(self, durable=True):
        """Open a transaction. Its BEGIN is not sent on its own: it goes with the first
        statement (one round trip fewer), and statements given `with_commit` go with
        the COMMIT."""
        self._own_lock.acquire()
        try:
            self._fresh_own()
        except BaseException:
            self._own_lock.release()
            raise
        if self._trace:
            self._trace("BEGIN")
        # A relaxed transaction is committed before the reply, not waited for on the
        # disk: the counterpart of sqlite's synchronous=NORMAL.
        self._opening = "BEGIN; " if durable else "BEGIN; SET LOCAL synchronous_commit = off; "
        self._closing = []
        self._before_commit = []
        self.transactions += 1
        self._owner = getcurrent()

    def before_commit(self, fn):
        """Inside a transaction: call fn() just before it commits (fn may run statements;
        if it fails, the transaction rolls back)."""
        self._before_commit.append(fn)

    def with_commit(self, text, params=()):
        """Inside a transaction: send this statement (psycopg2's dialect, no result
        wanted) with the COMMIT, in one round trip."""
        with self._own.cursor() as cur:
            self._closing.append(cur.mogrify(text, params).decode())

    def end(self, commit):
        try:
            if not commit:
                self._finish("ROLLBACK")
                return
            try:
                for fn in self._before_commit:
                    fn()
            except BaseException:
                self._finish("ROLLBACK")
                raise
            self._finish("COMMIT", self._closing)
        finally:
            self._owner = None
            self._own_lock.release()

    def _finish(self, word, closing=()):
        if self._opening is not None:
            return                  # nothing was sent: no transaction was opened
        if self._own.closed:
            if word == "COMMIT":
                raise Unavailable(UNREACHABLE.format("the connection was lost"))
            return
        text = "".join(f"{statement}; " for statement in closing) + word
        if self._trace:
            self._trace(text)
        self._run_on(self._own, text, None)

    def transaction(self, durable=True):
        return _PgTransaction(self, durable)

    def _fresh_own(self):
        if self._own.closed:
            self._own = connect(self.url)

    # -- statements -------------------------------------------------------------------

    def execute(self, sql, params=()):
        """A statement in sqlite's dialect (see the module's docstring)."""
        found = self._cache.get(sql)
        if found is None:
            found = self._cache[sql] = translate(sql)
        text, returning = found
        return PgCursor(self.run(text, params, prepare=sql in self.hot), returning)

    def run(self, text, params=(), prepare=False):
        """A statement in psycopg2's own dialect: its cursor, run. A statement run on
        every message is `prepare`d: parsed and planned once per connection, not each
        time."""
        if self._trace:
            self._trace(text)
        if self._owner is not None and self._owner is getcurrent():
            conn = self._own
            text = self._prepared(conn, text, len(params)) if prepare else text
            if self._opening is not None:
                text, self._opening = self._opening + text, None
            return self._run_on(conn, text, params)
        with self._shared_lock:
            if self._shared.closed:
                self._shared = connect(self.url)
            conn = self._shared
            text = self._prepared(conn, text, len(params)) if prepare else text
            return self._run_on(conn, text, params)

    def _prepared(self, conn, text, count):
        """EXECUTE of `text` prepared on `conn` (PREPAREd there first if need be)."""
        name = self._names.get(text)
        if name is None:
            name = self._names[text] = f"hh_{len(self._names)}"
        done = self._done.get(conn)
        if done is None:
            # A new connection (the first, or one opened after a loss): nothing on it yet.
            self._done = {c: d for c, d in self._done.items() if not c.closed}
            done = self._done[conn] = set()
        if name not in done:
            pieces = text.split("%s")
            numbered = "".join(f"{p}${i}" for i, p in enumerate(pieces[:-1], 1)) + pieces[-1]
            self._run_on(conn, f"PREPARE {name} AS {numbered.replace('%%', '%')}", None)
            done.add(name)
        return f"EXECUTE {name} ({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"

    @staticmethod
    def _run_on(conn, text, params):
        cursor = conn.cursor()
        try:
            cursor.execute(text, params or None)
        except _LOST as exc:
            if not conn.closed:
                raise           # the server refused the statement; the connection is fine
            # The connection is lost: the next statement opens a new one (the server may
            # be back by then); this one's caller hears `unavailable`.
            raise Unavailable(UNREACHABLE.format(_first_line(exc))) from None
        return cursor

    def close(self):
        for conn in (self._own, self._shared):
            if not conn.closed:
                conn.close()


class _PgTransaction:
    __slots__ = ("conn", "durable")

    def __init__(self, conn, durable):
        self.conn = conn
        self.durable = durable

    def __enter__(self):
        self.conn.begin(self.durable)

    def __exit__(self, kind, _exc, _tb):
        self.conn.end(commit=kind is None)


class HivePostgres(PostgresqlDatabase):
    """peewee's PostgreSQL, its statements run on a PgConnection's two connections."""

    # Times are unix seconds as floats: peewee's default (REAL) keeps 7 digits of them.
    field_types: ClassVar = {**PostgresqlDatabase.field_types, "FLOAT": "DOUBLE PRECISION"}

    def __init__(self, pg):
        self.pg = None
        super().__init__(None, autoconnect=False)
        self.pg = pg
        self.server_version = self._adapter.get_server_version(pg._shared)

    def is_closed(self):
        return False

    def connection(self):
        return self.pg

    def _execute_cursor(self, sql, params, **cursor_options):
        self._log_query(sql, params)
        from peewee import __exception_wrapper__
        with __exception_wrapper__:
            return self.pg.run(sql, params)

    def close(self):
        if self.pg is not None:
            self.pg.close()
        return True
