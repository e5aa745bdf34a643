"""The store's rows of spend: what each agent spent per day, and the operator's raises."""

from .schema import SPEND_FIELDS

_COLUMNS = ", ".join(SPEND_FIELDS)


def _row(values):
    row = dict(zip(SPEND_FIELDS, values))
    row.update(lifted=bool(row["lifted"]), told=bool(row["told"]))
    return row


class SpendRows:
    """Mixed into Store: its `_conn` is the shared connection."""

    def spend_on(self, day):
        """agent -> its row for `day` (only agents that have one)."""
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM spend WHERE day = ?", (day,))
        return {r[0]: _row(r) for r in rows}

    def spend(self, agent, day):
        r = self._conn.execute(f"SELECT {_COLUMNS} FROM spend WHERE agent = ? AND day = ?",
                               (agent, day)).fetchone()
        return _row(r) if r else None

    def add_spend(self, agent, day, usd):
        """One more turn costing `usd` on `day`; the row after it."""
        self._conn.execute(
            "INSERT INTO spend (agent, day, usd, turns, raised_usd, lifted, told) "
            "VALUES (?, ?, ?, 1, 0, FALSE, FALSE) ON CONFLICT (agent, day) DO UPDATE SET "
            "usd = spend.usd + excluded.usd, turns = spend.turns + 1", (agent, day, usd))
        return self.spend(agent, day)

    def change_budget(self, agent, day, raise_usd=0.0, lifted=None, told=None):
        """The operator's raise (added to the day's) or lift, and whether budget_reached
        went out; the row after it."""
        self._conn.execute(
            "INSERT INTO spend (agent, day, usd, turns, raised_usd, lifted, told) "
            "VALUES (?, ?, 0, 0, ?, ?, ?) ON CONFLICT (agent, day) DO UPDATE SET "
            "raised_usd = spend.raised_usd + excluded.raised_usd, "
            "lifted = COALESCE(?, spend.lifted), told = COALESCE(?, spend.told)",
            (agent, day, raise_usd, bool(lifted), bool(told),
             None if lifted is None else bool(lifted), None if told is None else bool(told)))
        return self.spend(agent, day)

    def prune_spend(self, before_day, limit):
        """At most `limit` rows of days before `before_day`."""
        return self._conn.execute(
            "DELETE FROM spend WHERE (agent, day) IN (SELECT agent, day FROM spend WHERE day < ? "
            "LIMIT ?)",
            (before_day, limit)).rowcount
