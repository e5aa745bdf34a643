"""One row per claude turn in /state/hyperhive-turn-stats.sqlite, and the stats read back.

Recording is best effort: a failed insert is logged and the turn goes on.
"""

import json
import logging
import math
import time

from peewee import FloatField, IntegerField, Model, TextField

from .store import open_database

log = logging.getLogger(__name__)

WINDOWS = {"1h": (3600, 300), "4h": (4 * 3600, 900), "24h": (86400, 3600),
           "7d": (7 * 86400, 6 * 3600), "30d": (30 * 86400, 86400)}
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

    class Meta:
        table_name = "turn_stats"
        database = None


class TurnStats:
    def __init__(self, path):
        self.db = open_database(path, [TurnStat], durable=False)

    def record(self, **row):
        try:
            row["tool_calls_json"] = json.dumps(row.pop("tool_calls", {}) or {}, sort_keys=True)
            return TurnStat.insert(**row).execute()
        except Exception:
            log.exception("could not record turn stats")
            return None

    def last_session_cost(self, session_id):
        """The session's cumulative cost after its last recorded turn (for per-turn shares)."""
        row = (TurnStat.select().where(TurnStat.session_id == session_id)
               .order_by(TurnStat.id.desc()).first())
        return row.session_cost_usd if row and row.session_cost_usd is not None else None

    def last_turn(self):
        row = TurnStat.select().order_by(TurnStat.id.desc()).first()
        return _as_dict(row) if row else None

    def summary(self, window="24h", now=None):
        """Series for the stats page: per-bucket counts, percentiles, tokens, tools, outcomes.

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
                  "tools_per_turn": [None] * count, "cost_usd": [0.0] * count}
        args = (start, step, start)
        for b, n, inp, out, cread, cwrite, calls, cost in self._sql(_BUCKET_SUMS, args):
            if 0 <= b < count:
                series["turns"][b], series["input"][b], series["output"][b] = n, inp, out
                series["cache_read"][b], series["cache_write"][b] = cread, cwrite
                series["tools_per_turn"][b] = round(calls / n, 2)
                series["cost_usd"][b] = round(cost, 6)
        durations = {}
        for b, ms in self._sql(_BUCKET_DURATIONS, args):
            durations.setdefault(b, []).append(ms)
        for b, values in durations.items():
            if 0 <= b < count:
                series["p50_ms"][b] = _percentile(values, 50)
                series["p95_ms"][b] = _percentile(values, 95)
        outcomes = dict.fromkeys(OUTCOMES, 0)
        outcomes.update(dict(self._sql(_OUTCOMES, (start,))))
        tools = {name: n for name, n in self._sql(_TOOLS, (start,))}
        last = self.last_turn()
        return {"window": window, "step": step, "series": series, "tools": tools,
                "outcomes": outcomes, "turns": sum(series["turns"]),
                "since_last_turn_s": (now - last["ended_at"]) if last else None}

    def _sql(self, sql, args):
        return self.db.execute_sql(sql, args).fetchall()


_BUCKET = "CAST((started_at - ?) / ? AS INTEGER)"
_BUCKET_SUMS = (f"SELECT {_BUCKET} AS b, COUNT(*), SUM(input_tokens), SUM(output_tokens), "
                "SUM(cache_read_input_tokens), SUM(cache_creation_input_tokens), "
                "SUM(tool_call_count), SUM(cost_usd) FROM turn_stats WHERE started_at >= ? "
                "GROUP BY b")
_BUCKET_DURATIONS = (f"SELECT {_BUCKET} AS b, duration_ms FROM turn_stats "
                     "WHERE started_at >= ? ORDER BY b, duration_ms")
_OUTCOMES = "SELECT result_kind, COUNT(*) FROM turn_stats WHERE started_at >= ? GROUP BY 1"
_TOOLS = ("SELECT j.key, SUM(j.value) FROM turn_stats, json_each(turn_stats.tool_calls_json) "
          "AS j WHERE started_at >= ? GROUP BY j.key ORDER BY 2 DESC")


def _percentile(values, pct):
    """Nearest-rank percentile of already sorted values."""
    if not values:
        return None
    k = max(0, math.ceil(pct / 100 * len(values)) - 1)
    return values[k]


def _as_dict(row):
    return {f: getattr(row, f) for f in TurnStat._meta.sorted_field_names}
