"""The pages' charts as data: what each chart shows, in which colour and format.

static/stats.js only hands these to uPlot, so which series a chart has, how the
sends stack and how a tool is labelled are decided here, once. Colours are the
names of the page's CSS colours; formats name one of stats.js's axis formats.
The agent's stats page charts its turns (`charts`); the dashboard charts the
approval queue (`approval_queue`), which only the host knows.
"""

import json
import math
import re

# bottom of the sends stack first
SEND_STACK = (("operator", "amber"), ("manager", "mauve"), ("peer", "cyan"), ("broadcast", "green"))
OUTCOME_COLOURS = {"ok": "green", "failed": "red", "prompt_too_long": "mauve", "cancelled": "amber",
                   "rate_limited": "cyan", "auth_failed": "red"}


def line(label, data, colour, **extra):
    return {"label": label, "data": data, "colour": colour, **extra}


def bars(label, data, colour, **extra):
    return line(label, data, colour, bars=True, **extra)


def time_chart(name, fmt, *series):
    return {"name": name, "kind": "time", "format": fmt, "series": list(series)}


def category_chart(name, what, counts, colours):
    return {"name": name, "kind": "category", "what": what, "labels": [k for k, _ in counts],
            "values": [n for _, n in counts], "colours": colours}


def script_json(data):
    """Chart data as JSON to put in a page's <script type="application/json">: no `</`
    in it, so nothing in a label can end the script."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def short_tool(name):
    return re.sub(r"^mcp__([^_]+)__", r"\1/", re.sub(r"^mcp__hyperhive__", "", name))


def sends_series(d):
    """uPlot does not stack: each class is a bar up to its running total, drawn tallest
    first so the classes below paint over it; its legend shows the class's own count."""
    below = [0] * len(d["t"])
    layers = []
    for key, colour in SEND_STACK:
        own = [n or 0 for n in d[f"sends_{key}"]]
        below = [b + n for b, n in zip(below, own)]
        label = "→ broadcast (*)" if key == "broadcast" else f"→ {key}"
        layers.append(bars(label, below, colour, shown=own))
    return layers[::-1]


def charts(sm):
    """Every chart of the stats page for one summary (turnstats.summary)."""
    d = sm["series"]
    secs = [[None if v is None else v / 1000 for v in d[k]] for k in ("p50_ms", "p95_ms")]
    notes = [line("notes.md", d["notes_bytes"], "green", span=True)]
    if sm.get("notes_limit"):
        notes.append(line("compacted past", [sm["notes_limit"]] * len(d["t"]), "red", dash=True))
    tools = sorted(sm["tools"].items(), key=lambda kv: (-kv[1], kv[0]))
    out = [
        time_chart("turns", "count", bars("turns", d["turns"], "amber")),
        time_chart("durations", "secs", line("p50", secs[0], "green"), line("p95", secs[1], "amber")),
        time_chart("tokens", "int", line("input", d["input"], "amber"),
                   line("output", d["output"], "green"), line("cache read", d["cache_read"], "cyan"),
                   line("cache write", d["cache_write"], "mauve")),
        time_chart("tools_per_turn", "dec", line("tool calls per turn", d["tools_per_turn"], "cyan")),
        time_chart("inbox", "count", bars("most", d["inbox_max"], "mauve"),
                   line("at the bucket's last turn", d["inbox_last"], "amber")),
        time_chart("messages", "dec", bars("most in one turn", d["messages_max"], "mauve"),
                   line("per turn", d["messages_per_turn"], "cyan")),
        time_chart("sends", "count", *sends_series(d)),
        time_chart("notes", "bytes", *notes),
        category_chart("outcomes", "outcome", list(sm["outcomes"].items()),
                       [OUTCOME_COLOURS.get(k, "muted") for k in sm["outcomes"]]),
    ]
    if tools:
        out.append(category_chart("tools", "tool", [(short_tool(k), n) for k, n in tools], ["cyan"]))
    return {"t": d["t"], "step": sm["step"], "charts": out}


QUEUE_SPAN = 86400
QUEUE_STEP = 3600


def approval_queue(spans, now, span=QUEUE_SPAN, step=QUEUE_STEP):
    """The approvals waiting over the last `span` seconds, per `step` bucket: the most
    at once, and how many at the bucket's end. `spans` are (requested_at, resolved_at)
    pairs, resolved_at None while one still waits (approvals.queue_spans)."""
    start = math.floor((now - span) / step) * step
    t = [start + i * step for i in range(int((now - start) // step) + 1)]
    changes = sorted([(came, 1) for came, _ in spans]
                     + [(went, -1) for _, went in spans if went is not None])
    waiting, i = 0, 0
    most, at_end = [], []
    for bucket_start in t:
        bucket_end = bucket_start + step
        while i < len(changes) and changes[i][0] < bucket_start:
            waiting += changes[i][1]
            i += 1
        peak = waiting
        while i < len(changes) and changes[i][0] < bucket_end:
            waiting += changes[i][1]
            peak = max(peak, waiting)
            i += 1
        most.append(peak)
        at_end.append(waiting)
    return {"t": t, "step": step, "most": max(most, default=0), "now": at_end[-1] if t else 0,
            "charts": [time_chart("approval_queue", "count",
                                  bars("most waiting at once", most, "amber"),
                                  line("waiting at the hour's end", at_end, "cyan"))]}
