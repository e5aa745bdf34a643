"""The full-text index over message bodies, questions and answers (sqlite FTS5), and its
queries.

The index is kept current by triggers on the indexed tables, so a row and its index
entry commit (or roll back) in the same transaction, whatever statement wrote the row.
Each index is an external-content FTS5 table: it stores the terms, not the text, and
reads a snippet's text back from the row itself. `detail=none` keeps only which rows
hold a term (no positions): that makes each send's index entry as small as it gets,
at the price of phrase and NEAR queries, which the search never builds (it looks for
plain words, all of them). `columnsize=0` drops the per-row size table (one more
write per send); ranking by relevance re-reads the text instead.

Measured in bench/search_index.py: the index's cost on a lone send is mostly FTS5's
fixed cost of flushing a new segment at each commit, about the same for every shape
tried; these options (and SETTINGS) take what little there was to take.
"""

import logging
import sqlite3

from .names import OPERATOR

log = logging.getLogger(__name__)

# Marks around a hit in a snippet: control characters, so the text in between is never
# taken for markup. A body holding them itself can at worst move a highlight.
HIT_OPEN, HIT_CLOSE = "\x02", "\x03"
ELLIPSIS = "…"
SNIPPET_TOKENS = 24

OPTIONS = "detail=none, columnsize=0"
# FTS5 merges its segments as they pile up: at 16 of one level (4 by default), and at
# 64 in the writer's own commit when merging falls behind. Fewer, larger merges cost a
# send a few µs less on average; a query reads at most a few more segments.
SETTINGS = (("automerge", 16), ("crisismerge", 64))


def _statements(options):
    """Each index's statements: the FTS5 table, its triggers, and filling it."""
    return {
        "messages_fts": (
            f"CREATE VIRTUAL TABLE messages_fts USING fts5(body, content='messages', "
            f"content_rowid='id', {options})",
            "CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN "
            "INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body); END",
            "CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN "
            "INSERT INTO messages_fts (messages_fts, rowid, body) "
            "VALUES ('delete', old.id, old.body); END",
            "CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF body ON messages "
            "BEGIN INSERT INTO messages_fts (messages_fts, rowid, body) "
            "VALUES ('delete', old.id, old.body); "
            "INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body); END",
            # The thread page's replies: only replies carry in_reply_to, so a lone send
            # pays nothing for it.
            "CREATE INDEX IF NOT EXISTS messages_in_reply_to ON messages (in_reply_to) "
            "WHERE in_reply_to IS NOT NULL",
            "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')",
        ),
        "questions_fts": (
            f"CREATE VIRTUAL TABLE questions_fts USING fts5(question, answer, "
            f"content='questions', content_rowid='id', {options})",
            "CREATE TRIGGER IF NOT EXISTS questions_fts_insert AFTER INSERT ON questions BEGIN "
            "INSERT INTO questions_fts (rowid, question, answer) "
            "VALUES (new.id, new.question, new.answer); END",
            "CREATE TRIGGER IF NOT EXISTS questions_fts_delete AFTER DELETE ON questions BEGIN "
            "INSERT INTO questions_fts (questions_fts, rowid, question, answer) "
            "VALUES ('delete', old.id, old.question, old.answer); END",
            "CREATE TRIGGER IF NOT EXISTS questions_fts_update AFTER UPDATE OF question, answer "
            "ON questions BEGIN INSERT INTO questions_fts (questions_fts, rowid, question, "
            "answer) VALUES ('delete', old.id, old.question, old.answer); "
            "INSERT INTO questions_fts (rowid, question, answer) "
            "VALUES (new.id, new.question, new.answer); END",
            "INSERT INTO questions_fts (questions_fts) VALUES ('rebuild')",
        ),
    }


_TRIGGERS = ("messages_fts_insert", "messages_fts_delete", "messages_fts_update",
             "questions_fts_insert", "questions_fts_delete", "questions_fts_update")


def ensure_indexes(conn, options=OPTIONS, settings=SETTINGS):
    """Create each missing index with its triggers and fill it from the rows already
    there (a database written before the index existed), in one transaction each.
    `options` and `settings` (FTS5 configuration: name -> value) are the bench's to vary."""
    have = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
        ("messages_fts", "questions_fts"))}
    for name, statements in _statements(options).items():
        if name in have:
            continue
        configure = [f"INSERT INTO {name} ({name}, rank) VALUES ('{key}', {int(value)})"
                     for key, value in dict(settings).items()]
        log.info("building the search index %s over the rows already there", name)
        _in_transaction(conn, statements[:1] + tuple(configure) + statements[1:])


def drop_indexes(conn):
    """Remove the indexes and their triggers (a store as it was before search)."""
    _in_transaction(conn, [f"DROP TRIGGER IF EXISTS {t}" for t in _TRIGGERS]
                    + ["DROP TABLE IF EXISTS messages_fts", "DROP TABLE IF EXISTS questions_fts"])


def _in_transaction(conn, statements):
    conn.execute("BEGIN")
    try:
        for sql in statements:
            conn.execute(sql)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _scope(agent, first, second):
    """A WHERE clause's part (and its parameters) keeping rows where `agent` is either end."""
    if agent is None:
        return "", ()
    return f" AND ({first} = ? OR {second} = ?)", (agent, agent)


def _order(best, rowid):
    return "rank" if best else f"{rowid} DESC"


class SearchError(Exception):
    """sqlite refused a MATCH expression."""


def _run(conn, sql, params):
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc) or "MATCH" in str(exc):
            raise SearchError(str(exc)) from None
        raise


class SearchRows:
    """Mixed into Store: its `_conn` is the shared connection. `match` is an FTS5 query
    the caller built (searches.py); these only run it."""

    def search_messages(self, match, limit, agent=None, best=False):
        where, params = _scope(agent, "m.sender", "m.recipient")
        rows = _run(self._conn,
                    "SELECT m.id, m.sender, m.recipient, m.sent_at, m.in_reply_to, "
                    f"snippet(messages_fts, 0, ?, ?, ?, {SNIPPET_TOKENS}), messages_fts.rank "
                    "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
                    f"WHERE messages_fts MATCH ?{where} "
                    f"ORDER BY {_order(best, 'messages_fts.rowid')} LIMIT ?",
                    (HIT_OPEN, HIT_CLOSE, ELLIPSIS, match, *params, limit))
        return [{"kind": "message", "id": i, "from": s, "to": r, "at": at,
                 "in_reply_to": parent, "snippet": snip, "rank": rank}
                for i, s, r, at, parent, snip, rank in rows]

    def search_questions(self, match, limit, agent=None, best=False):
        # a question with no target is the operator's
        where, params = _scope(agent, "q.asker", f"COALESCE(q.target, '{OPERATOR}')")
        rows = _run(self._conn,
                    "SELECT q.id, q.asker, q.target, q.asked_at, q.answered_at, "
                    f"snippet(questions_fts, -1, ?, ?, ?, {SNIPPET_TOKENS}), questions_fts.rank "
                    "FROM questions_fts JOIN questions q ON q.id = questions_fts.rowid "
                    f"WHERE questions_fts MATCH ?{where} "
                    f"ORDER BY {_order(best, 'questions_fts.rowid')} LIMIT ?",
                    (HIT_OPEN, HIT_CLOSE, ELLIPSIS, match, *params, limit))
        return [{"kind": "question", "id": i, "from": a, "to": t, "at": at,
                 "answered_at": answered, "snippet": snip, "rank": rank}
                for i, a, t, at, answered, snip, rank in rows]

    def replies_to(self, msg_id, limit):
        rows = self._conn.execute("SELECT id FROM messages WHERE in_reply_to = ? "
                                  "ORDER BY id LIMIT ?", (msg_id, limit)).fetchall()
        return [r[0] for r in rows]
