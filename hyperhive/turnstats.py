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

    def rows_since(self, since):
        q = TurnStat.select().where(TurnStat.started_at >= since).order_by(TurnStat.started_at)
        return [_as_dict(r) for r in q]

    def summary(self, window="24h", now=None):
        """Series for the stats page: per-bucket counts, percentiles, tokens, tools, outcomes."""
        span, step = WINDOWS[window]
        now = now or time.time()
        start = math.floor((now - span) / step) * step
        rows = self.rows_since(start)
        buckets = [start + i * step for i in range(int((now - start) // step) + 1)]
        by_bucket = {b: [] for b in buckets}
        for r in rows:
            b = start + ((r["started_at"] - start) // step) * step
            by_bucket.setdefault(b, []).append(r)
        series = {"t": buckets, "turns": [], "p50_ms": [], "p95_ms": [], "input": [],
                  "output": [], "cache_read": [], "cache_write": [], "tools_per_turn": [],
                  "cost_usd": []}
        for b in buckets:
            _bucket(series, by_bucket.get(b, []))
        tools, outcomes = {}, dict.fromkeys(OUTCOMES, 0)
        for r in rows:
            outcomes[r["result_kind"]] = outcomes.get(r["result_kind"], 0) + 1
            for name, n in json.loads(r["tool_calls_json"] or "{}").items():
                tools[name] = tools.get(name, 0) + n
        last = self.last_turn()
        return {"window": window, "step": step, "series": series, "tools": tools,
                "outcomes": outcomes, "turns": len(rows),
                "since_last_turn_s": (now - last["ended_at"]) if last else None}


def _bucket(series, rows):
    durations = sorted(r["duration_ms"] for r in rows)
    series["turns"].append(len(rows))
    series["p50_ms"].append(_percentile(durations, 50))
    series["p95_ms"].append(_percentile(durations, 95))
    for key, column in (("input", "input_tokens"), ("output", "output_tokens"),
                        ("cache_read", "cache_read_input_tokens"),
                        ("cache_write", "cache_creation_input_tokens")):
        series[key].append(sum(r[column] for r in rows))
    series["tools_per_turn"].append(
        round(sum(r["tool_call_count"] for r in rows) / len(rows), 2) if rows else None)
    series["cost_usd"].append(round(sum(r["cost_usd"] for r in rows), 6))


def _percentile(values, pct):
    if not values:
        return None
    k = max(0, math.ceil(pct / 100 * len(values)) - 1)
    return values[k]


def _as_dict(row):
    return {f: getattr(row, f) for f in TurnStat._meta.sorted_field_names}
