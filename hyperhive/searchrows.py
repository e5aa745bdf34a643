"""The full-text index over message bodies, questions and answers (sqlite FTS5, or
PostgreSQL's text search), and its queries.

The index is kept current by triggers on the indexed tables, so a row and its index
entry commit (or roll back) in the same transaction, whatever statement wrote the row.
Each index is an external-content FTS5 table: it stores the terms, not the text, and
reads a snippet's text back from the row itself. `detail=none` keeps only which rows
hold a term (no positions): that makes each send's index entry as small as it gets,
at the price of phrase and NEAR queries, which the search never builds (it looks for
plain words, all of them). `columnsize=0` drops the per-row size table (one more
write per send); ranking by relevance re-reads the text instead.

On PostgreSQL the index is a GIN index over each row's words (the `simple` text
search configuration: lower-cased words, no stemming, as FTS5's unicode61 splits
them), which the server keeps current in the row's own transaction.

Measured in bench/search_index.py: the index's cost on a lone send is mostly FTS5's
fixed cost of flushing a new segment at each commit, about the same for every shape
tried; these options (and SETTINGS) take what little there was to take.
"""

import logging
import re
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


# PostgreSQL: the text each row is searched by, its words, and their indexes (the
# queries name the same expressions, or the planner would not use them).
def _pg_text(kind, alias=""):
    if kind == "message":
        return f"{alias}body"
    return f"{alias}question || ' ' || COALESCE({alias}answer, '')"


def _pg_words(kind, alias=""):
    return f"to_tsvector('simple', {_pg_text(kind, alias)})"


PG_INDEXES = (
    f"CREATE INDEX IF NOT EXISTS messages_words ON messages USING gin ({_pg_words('message')})",
    "CREATE INDEX IF NOT EXISTS questions_words ON questions USING gin "
    f"({_pg_words('question')})",
    "CREATE INDEX IF NOT EXISTS messages_in_reply_to ON messages (in_reply_to) "
    "WHERE in_reply_to IS NOT NULL",
)
_WORD = re.compile(r"[^\W_]+")


def word_snippet(text, words, tokens=SNIPPET_TOKENS):
    """About `tokens` words of `text` around its first hit, the hits (any of `words`,
    whole and in any case) marked, ellipses where it was cut: FTS5's snippet(), for
    PostgreSQL, whose own ts_headline reads markup in the text as tags and drops it."""
    wanted = {w.casefold() for w in words}
    spans = [m.span() for m in _WORD.finditer(text)]
    hits = [i for i, (a, b) in enumerate(spans) if text[a:b].casefold() in wanted]
    if not spans:
        return text
    first = max(0, min((hits[0] if hits else 0) - tokens // 4, len(spans) - tokens))
    last = min(len(spans), first + tokens)
    start = 0 if first == 0 else spans[first][0]
    end = len(text) if last == len(spans) else spans[last - 1][1]
    out, at = [ELLIPSIS] if start else [], start
    for i in hits:
        a, b = spans[i]
        if a >= start and b <= end:
            out += [text[at:a], HIT_OPEN, text[a:b], HIT_CLOSE]
            at = b
    out.append(text[at:end])
    if end < len(text):
        out.append(ELLIPSIS)
    return "".join(out)


def ensure_indexes(conn, options=OPTIONS, settings=SETTINGS, postgres=False):
    """Create each missing index with its triggers and fill it from the rows already
    there (a database written before the index existed), in one transaction each.
    `options` and `settings` (FTS5 configuration: name -> value) are the bench's to vary."""
    if postgres:
        for sql in PG_INDEXES:
            conn.execute(sql)
        return
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


def fts_match(words):
    """Plain words as an FTS5 query meaning "all of them": each a quoted string, so no
    word is read as FTS5 syntax (searches.py keeps only letters and digits)."""
    return " AND ".join(f'"{w}"' for w in words)


class SearchRows:
    """Mixed into Store: its `_conn` is the shared connection. `words` are plain words
    (letters and digits) the caller took out of a query (searches.py)."""

    def search_messages(self, words, limit, agent=None, best=False):
        where, params = _scope(agent, "m.sender", "m.recipient")
        if self.on_postgres:
            return self._pg_search("message", words, limit, where, params, best)
        match = fts_match(words)
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

    def search_questions(self, words, limit, agent=None, best=False):
        # a question with no target is the operator's
        where, params = _scope(agent, "q.asker", f"COALESCE(q.target, '{OPERATOR}')")
        if self.on_postgres:
            return self._pg_search("question", words, limit, where, params, best)
        match = fts_match(words)
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

    def _pg_search(self, kind, words, limit, where, params, best):
        """PostgreSQL's side of both searches: the same rows, ranked best first by
        ts_rank (negated: a smaller rank is a better hit, as FTS5's)."""
        alias = kind[0] + "."
        words_of, text = _pg_words(kind, alias), _pg_text(kind, alias)
        if kind == "message":
            columns, table = "m.id, m.sender, m.recipient, m.sent_at, m.in_reply_to", "messages m"
        else:
            columns, table = "q.id, q.asker, q.target, q.asked_at, q.answered_at", "questions q"
        order = "6 DESC" if best else "1 DESC"
        rows = self._conn.execute(
            f"SELECT {columns}, ts_rank({words_of}, w) AS score, {text} FROM {table}, "
            f"plainto_tsquery('simple', ?) w WHERE {words_of} @@ w{where} "
            f"ORDER BY {order} LIMIT ?", (" ".join(words), *params, limit)).fetchall()
        if kind == "message":
            return [{"kind": "message", "id": i, "from": s, "to": r, "at": at,
                     "in_reply_to": parent, "snippet": word_snippet(body, words),
                     "rank": -score} for i, s, r, at, parent, score, body in rows]
        return [{"kind": "question", "id": i, "from": a, "to": t, "at": at,
                 "answered_at": answered, "snippet": word_snippet(body, words),
                 "rank": -score} for i, a, t, at, answered, score, body in rows]

    def replies_to(self, msg_id, limit):
        rows = self._conn.execute("SELECT id FROM messages WHERE in_reply_to = ? "
                                  "ORDER BY id LIMIT ?", (msg_id, limit)).fetchall()
        return [r[0] for r in rows]
