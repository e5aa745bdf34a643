"""The store's rows of work: verbs one host of a hive asks another to carry out
(worklist.py), from asked to taken to done."""

import json

_COLUMNS = ("id", "host", "verb", "args", "caller", "requester", "created_at", "taken_at",
            "done_at", "result", "error_code", "error_message")


def _row(values):
    row = dict(zip(_COLUMNS, values))
    row["args"] = json.loads(row["args"] or "{}")
    row["result"] = json.loads(row["result"]) if row["result"] is not None else None
    return row


class WorkRows:
    """Mixed into Store: its `_conn` is the shared connection."""

    def add_work(self, host, verb, args, caller, requester, now):
        return self._conn.execute(
            "INSERT INTO work (host, verb, args, caller, requester, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (host, verb, json.dumps(args), caller, requester, now)).lastrowid

    def take_work(self, host, now):
        """The rows waiting for `host`, marked taken. Rows another taker holds are
        skipped (SKIP LOCKED): each row is taken once."""
        rows = self._conn.execute(
            f"UPDATE work SET taken_at = ? WHERE id IN (SELECT id FROM work WHERE host = ? "
            "AND taken_at IS NULL ORDER BY id FOR UPDATE SKIP LOCKED) "
            f"RETURNING {', '.join(_COLUMNS)}", (now, host)).fetchall()
        return sorted((_row(r) for r in rows), key=lambda r: r["id"])

    def finish_work(self, work_id, now, result=None, error_code=None, error_message=None):
        self._conn.execute(
            "UPDATE work SET done_at = ?, result = ?, error_code = ?, error_message = ? "
            "WHERE id = ?",
            (now, None if result is None else json.dumps(result), error_code, error_message,
             work_id))

    def drop_work(self, work_id, now, error_code, error_message):
        """Give up on a row no host took yet; 1 when it was still waiting."""
        return self._conn.execute(
            "UPDATE work SET taken_at = ?, done_at = ?, error_code = ?, error_message = ? "
            "WHERE id = ? AND taken_at IS NULL",
            (now, now, error_code, error_message, work_id)).rowcount

    def work(self, work_id):
        row = self._conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM work WHERE id = ?",
                                 (work_id,)).fetchone()
        return _row(row) if row else None

    def prune_work(self, before):
        """Forget rows asked before `before`: long answered, or left by a host that died."""
        return self._conn.execute("DELETE FROM work WHERE created_at < ?", (before,)).rowcount
