"""One row per claude turn in /state/hyperhive-turn-stats.sqlite, and the stats read back.

Recording is best effort: a failed insert is logged and the turn goes on (on a full
disk, logged once for as long as it stays full). Rows older than the retention setting
go, but never younger than the longest window the stats page charts.
"""

import json
import logging
import math
import time

from peewee import FloatField, IntegerField, Model, OperationalError, TextField
from playhouse.migrate import SqliteMigrator, migrate

from .disk import DiskState
from .store import open_database
from .stream import SEND_CLASSES

log = logging.getLogger(__name__)

WINDOWS = {"1h": (3600, 300), "4h": (4 * 3600, 900), "24h": (86400, 3600),
           "7d": (7 * 86400, 6 * 3600), "30d": (30 * 86400, 86400)}
# The oldest turn a chart may show: the 30-day window starts at a whole day's bucket.
KEEP_AT_LEAST_SECONDS = max(span + step for span, step in WINDOWS.values())
OUTCOMES = ("ok", "failed", "prompt_too_long", "cancelled", "rate_limited", "auth_failed")


class TurnStat(Model):
    started_at = FloatField(index=True)
    ended_at = FloatField()
    duration_ms = IntegerField()
    model = TextField(null=True)
    wake_from = TextField(null=True)
    result_kind = TextField()
    note = TextField(null=True)
    input_tokens = IntegerField(default=0)
    output_tokens = IntegerField(default=0)
    cache_read_input_tokens = IntegerField(default=0)
    cache_creation_input_tokens = IntegerField(default=0)
    cost_usd = FloatField(default=0.0)
    tool_call_count = IntegerField(default=0)
    tool_calls_json = TextField(default="{}")
    open_threads_count = IntegerField(null=True)
    open_reminders_count = IntegerField(null=True)
    session_id = TextField(null=True)
    session_cost_usd = FloatField(null=True)
    # Added after the first release, so nullable: older files gain them empty (unknown).
    inbox_depth = IntegerField(null=True)   # left in the inbox besides the turn's message
    sends_json = TextField(null=True)       # {"operator": 1, "peer": 2}
    notes_bytes = IntegerField(null=True)   # notes.md after the turn; None: no file
    # the turn's own message and those claude took with recv during it
    messages_taken = IntegerField(null=True)

    class Meta:
        table_name = "turn_stats"
        database = None


class TurnStats:
    def __init__(self, path, disk=None):
        self.disk = disk or DiskState(f"the disk of {path}")
        try:
            self.db = open_database(path, [TurnStat], durable=False)
        except Exception as exc:
            if not self.disk.failed(exc):
                raise
            # No room to open the file: this run's turns are kept in memory, so the
            # harness starts and the stats page answers.
            self.db = open_database(":memory:", [TurnStat], durable=False)
        add_missing_columns(self.db)

    def record(self, **row):
        try:
            row["tool_calls_json"] = json.dumps(row.pop("tool_calls", {}) or {}, sort_keys=True)
            row["sends_json"] = json.dumps(row.pop("sends", {}) or {}, sort_keys=True)
            row_id = TurnStat.insert(**row).execute()
            self.disk.wrote()
            return row_id
        except Exception as exc:
            if not self.disk.failed(exc):
                log.exception("could not record turn stats")
            return None

    def prune(self, before, limit, now=None):
        """One transaction: at most `limit` turns that started before `before` (kept back
        to the charts' longest window whatever `before` says); (deleted, more left)."""
        before = min(before, (now or time.time()) - KEEP_AT_LEAST_SECONDS)
        with self.db.atomic():
            n = self.db.execute_sql(
                "DELETE FROM turn_stats WHERE id IN (SELECT id FROM turn_stats "
                "WHERE started_at < ? ORDER BY started_at LIMIT ?)", (before, limit)).rowcount
        return n, n == limit

    def last_session_cost(self, session_id):
        """The session's cumulative cost after its last recorded turn (for per-turn shares)."""
        row = (TurnStat.select().where(TurnStat.session_id == session_id)
               .order_by(TurnStat.id.desc()).first())
        return row.session_cost_usd if row and row.session_cost_usd is not None else None

    def last_turn(self):
        row = TurnStat.select().order_by(TurnStat.id.desc()).first()
        return _as_dict(row) if row else None

    def summary(self, window="24h", now=None):
        """Series for the stats page: per-bucket counts, percentiles, tokens, tools, outcomes,
        inbox depth, messages taken per turn, sends by recipient class and the notes size.

        The sums are sqlite's; Python only sorts each bucket's durations for the
        percentiles, so 10,000 turns cost a few ms, not a model object each.
        """
        span, step = WINDOWS[window]
        now = now or time.time()
        start = math.floor((now - span) / step) * step
        count = int((now - start) // step) + 1
        series = {"t": [start + i * step for i in range(count)], "turns": [0] * count,
                  "p50_ms": [None] * count, "p95_ms": [None] * count, "input": [0] * count,
                  "output": [0] * count, "cache_read": [0] * count, "cache_write": [0] * count,
                  "tools_per_turn": [None] * count, "cost_usd": [0.0] * count,
                  "inbox_last": [None] * count, "inbox_max": [None] * count,
                  "notes_bytes": [None] * count, "messages_per_turn": [None] * count,
                  "messages_max": [None] * count,
                  **{f"sends_{k}": [0] * count for k in SEND_CLASSES}}
        args = (start, step, start)
        self._fill_sums(series, args)
        self._fill_durations(series, args)
        self._fill_lasts(series, args)
        outcomes = dict.fromkeys(OUTCOMES, 0)
        outcomes.update(dict(self._sql(_OUTCOMES, (start,))))
        tools = {name: n for name, n in self._sql(_TOOLS, (start,))}
        last = self.last_turn()
        return {"window": window, "step": step, "series": series, "tools": tools,
                "outcomes": outcomes, "turns": sum(series["turns"]),
                "sends": {k: sum(series[f"sends_{k}"]) for k in SEND_CLASSES},
                "inbox_depth": last["inbox_depth"] if last else None,
                "notes_bytes": last["notes_bytes"] if last else None,
                "since_last_turn_s": (now - last["ended_at"]) if last else None}

    def _fill_sums(self, series, args):
        count = len(series["t"])
        for b, n, inp, out, cread, cwrite, calls, cost, inbox, taken, most, *sends in self._sql(
                _BUCKET_SUMS, args):
            if 0 <= b < count:
                series["turns"][b], series["input"][b], series["output"][b] = n, inp, out
                series["cache_read"][b], series["cache_write"][b] = cread, cwrite
                series["tools_per_turn"][b] = round(calls / n, 2)
                series["cost_usd"][b] = round(cost, 6)
                series["inbox_max"][b] = inbox
                series["messages_per_turn"][b] = None if taken is None else round(taken, 2)
                series["messages_max"][b] = most
                for kind, sent in zip(SEND_CLASSES, sends):
                    series[f"sends_{kind}"][b] = sent or 0

    def _fill_durations(self, series, args):
        count = len(series["t"])
        durations = {}
        for b, ms in self._sql(_BUCKET_DURATIONS, args):
            durations.setdefault(b, []).append(ms)
        for b, values in durations.items():
            if 0 <= b < count:
                series["p50_ms"][b] = _percentile(values, 50)
                series["p95_ms"][b] = _percentile(values, 95)

    def _fill_lasts(self, series, args):
        count = len(series["t"])
        for b, inbox, notes_bytes, _ in self._sql(_BUCKET_LASTS, args):
            if 0 <= b < count:
                series["inbox_last"][b], series["notes_bytes"][b] = inbox, notes_bytes

    def _sql(self, sql, args):
        return self.db.execute_sql(sql, args).fetchall()


_BUCKET = "CAST((started_at - ?) / ? AS INTEGER)"
_SEND_SUMS = ", ".join(f"SUM(json_extract(sends_json, '$.{k}'))" for k in SEND_CLASSES)
_BUCKET_SUMS = (f"SELECT {_BUCKET} AS b, COUNT(*), SUM(input_tokens), SUM(output_tokens), "
                "SUM(cache_read_input_tokens), SUM(cache_creation_input_tokens), "
                "SUM(tool_call_count), SUM(cost_usd), MAX(inbox_depth), "
                "AVG(messages_taken), MAX(messages_taken), "
                f"{_SEND_SUMS} FROM turn_stats WHERE started_at >= ? GROUP BY b")
# sqlite takes the bare columns from the row that holds the MAX(): the bucket's last turn.
_BUCKET_LASTS = (f"SELECT {_BUCKET} AS b, inbox_depth, notes_bytes, MAX(started_at) "
                 "FROM turn_stats WHERE started_at >= ? GROUP BY b")
_BUCKET_DURATIONS = (f"SELECT {_BUCKET} AS b, duration_ms FROM turn_stats "
                     "WHERE started_at >= ? ORDER BY b, duration_ms")
_OUTCOMES = "SELECT result_kind, COUNT(*) FROM turn_stats WHERE started_at >= ? GROUP BY 1"
_TOOLS = ("SELECT j.key, SUM(j.value) FROM turn_stats, json_each(turn_stats.tool_calls_json) "
          "AS j WHERE started_at >= ? GROUP BY j.key ORDER BY 2 DESC")


def add_missing_columns(db):
    """Give a file written by an older harness the columns added since; idempotent.

    Two processes may open an old file at once: a column the other one just added
    is not an error, and nothing here may keep the harness from starting.
    """
    table = TurnStat._meta.table_name
    have = {c.name for c in db.get_columns(table)}
    migrator = SqliteMigrator(db)
    for field in TurnStat._meta.sorted_fields:
        if field.column_name in have:
            continue
        try:
            migrate(migrator.add_column(table, field.column_name, field))
        except OperationalError:
            if field.column_name not in {c.name for c in db.get_columns(table)}:
                log.exception("could not add column %s to %s", field.column_name, table)


def _percentile(values, pct):
    """Nearest-rank percentile of already sorted values."""
    if not values:
        return None
    k = max(0, math.ceil(pct / 100 * len(values)) - 1)
    return values[k]


def _as_dict(row):
    return {f: getattr(row, f) for f in TurnStat._meta.sorted_field_names}
