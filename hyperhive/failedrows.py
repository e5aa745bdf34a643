"""The store's rows of failed turns: messages whose turns kept failing, acked and set
aside until the operator retries or discards them.

Each move is one conditional statement that only one caller can win: a message is
set aside only while it is delivered to its agent and not acked, and a row leaves the
list once, by a retry or a discard.
"""

FAILED_FIELDS = ("message_id", "agent", "outcome", "note", "stderr_tail", "attempts",
                 "failed_at", "sender", "body", "sent_at")
_SELECT = ("SELECT f.message_id, f.agent, f.outcome, f.note, f.stderr_tail, f.attempts, "
           "f.failed_at, m.sender, m.body, m.sent_at FROM failed_turns f "
           "LEFT JOIN messages m ON m.id = f.message_id")


def _marks(n):
    return ", ".join("?" * n)


class FailedRows:
    """Mixed into Store: its `_conn` is the shared connection."""

    def set_aside(self, agent, msg_id, now, outcome, note, stderr_tail, attempts):
        """Ack `agent`'s delivered, unacked message `msg_id` and list it as failed: 1, or 0
        when it is not such a message (another agent's, an acked one, none)."""
        acked = self._conn.execute(
            "UPDATE messages NOT INDEXED SET acked_at = ? WHERE id = ? AND recipient = ? "
            "AND delivered_at IS NOT NULL AND acked_at IS NULL", (now, msg_id, agent)).rowcount
        if not acked:
            return 0
        self._conn.execute(
            "INSERT INTO failed_turns (message_id, agent, outcome, note, stderr_tail, "
            "attempts, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO "
            "UPDATE SET agent = excluded.agent, outcome = excluded.outcome, "
            "note = excluded.note, stderr_tail = excluded.stderr_tail, "
            "attempts = excluded.attempts, failed_at = excluded.failed_at",
            (msg_id, agent, outcome, note, stderr_tail, attempts, now))
        return 1

    def failed_turns(self, agent=None, limit=200):
        """The failed list, newest first; one agent's when `agent` is given."""
        where, params = (" WHERE f.agent = ?", (agent,)) if agent else ("", ())
        rows = self._conn.execute(f"{_SELECT}{where} ORDER BY f.failed_at DESC, "
                                  "f.message_id DESC LIMIT ?", (*params, limit)).fetchall()
        return [dict(zip(FAILED_FIELDS, r)) for r in rows]

    def failed_turn(self, msg_id):
        row = self._conn.execute(f"{_SELECT} WHERE f.message_id = ?", (msg_id,)).fetchone()
        return dict(zip(FAILED_FIELDS, row)) if row else None

    def take_back_failed(self, msg_id):
        """The row leaves the list and its message is deliverable again (flagged
        redelivered): 1, or 0 when the row is gone already."""
        removed = self._conn.execute("DELETE FROM failed_turns WHERE message_id = ?",
                                     (msg_id,)).rowcount
        if removed:
            self._conn.execute("UPDATE messages SET delivered_at = NULL, acked_at = NULL, "
                               "redelivered = TRUE WHERE id = ?", (msg_id,))
        return removed

    def drop_failed(self, msg_id):
        """The row leaves the list; its message stays acked. 1, or 0 when it was gone."""
        return self._conn.execute("DELETE FROM failed_turns WHERE message_id = ?",
                                  (msg_id,)).rowcount

    def listed_as_failed(self, ids):
        """Which of `ids` are on the failed list (retention keeps their messages)."""
        ids = list(ids)
        if not ids:
            return set()
        rows = self._conn.execute(f"SELECT message_id FROM failed_turns WHERE message_id IN "
                                  f"({_marks(len(ids))})", ids).fetchall()
        return {r[0] for r in rows}
