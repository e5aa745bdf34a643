"""The stats page's charts as data: what each chart shows, in which colour and format.

static/stats.js only hands these to uPlot, so which series a chart has, how the
sends stack and how a tool is labelled are decided here, once. Colours are the
names of the page's CSS colours; formats name one of stats.js's axis formats.
"""

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
