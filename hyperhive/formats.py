"""How the pages write numbers, times and states: each rule once, for every page.

Templates and the fragment renderers call these; the browser gets their output,
never the rules.
"""

import time

TURN_GLYPHS = {"thinking": "🧠", "compacting": "⌁", "napping": "💤", "retrying": "↻",
               "idle": "·"}


def turn_glyph(state):
    return TURN_GLYPHS.get(state, "·")


def duration(seconds, precise=False):
    """12s, 4m (4m 05s when precise), 1h 20m, 3d 4h."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s" if precise else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def mmss(seconds):
    """A countdown: 04:59, or 1:04:59 past an hour."""
    s = max(0, int(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60:02d}:{s % 60:02d}"


def ms_text(ms):
    """850ms, 2.3s, 4m 05s."""
    if ms is None:
        return "?"
    ms = max(0, int(ms))
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60000:
        return f"{ms / 1000:.1f}s"
    return duration(ms / 1000, precise=True)


def compact(n):
    """12, 12.3k, 1.2M."""
    if n is None:
        return "—"
    n = int(n)
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return _trim(f"{n / 1000:.1f}") + "k"
    return _trim(f"{n / 1_000_000:.1f}") + "M"


def _trim(text):
    return text[:-2] if text.endswith(".0") else text


def full(n):
    return "?" if n is None else f"{int(n):,}"


def money(usd):
    if not usd:
        return "$0"
    if usd < 0.0001:
        return "<$0.0001"
    return f"${usd:.2f}" if usd >= 1 else f"${usd:.4f}"


def dollars(usd):
    """A budget's amount, to the cent ($1,234.50); None: a dash. Budgets and raises are
    the operator's round figures, where money() shows a turn's fractions of a cent."""
    return "—" if usd is None else f"${usd:,.2f}"


def clock(ts):
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else ""


def moment(ts, now):
    """A time near now: its clock (20:16:05), with the date when it is another day."""
    if not ts:
        return ""
    same_day = time.localtime(ts)[:3] == time.localtime(now)[:3]
    return time.strftime("%H:%M:%S" if same_day else "%m-%d %H:%M:%S", time.localtime(ts))


def rate_limited(until, now):
    """The rate-limit badge of the agent page and the dashboard: (text, title)."""
    if not until:
        return ("⏸ rate limited", "the API refused for rate limits: the agent rests, then "
                "takes the same message again")
    at = moment(until, now)
    return (f"⏸ rate limited until {at}",
            f"the API refused for rate limits: the agent takes no messages until {at} "
            "(a few seconds past the reset the API named, or the set rest when it named "
            "none), then takes the refused message again")


def date_time(ts):
    """2026-12-06 05:37: a moment that may be days back, as a commit's."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else ""


def size(n):
    """512 B, 3.4 KB, 1.2 GB."""
    n = float(n or 0)
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            break
        n /= 1024
    else:
        unit = "GB"
    return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"


def expires_in(seconds):
    """What is left of a deadline: 4m 05s, or expired."""
    return duration(seconds, precise=True) if seconds > 0 else "expired"


def clip(text, limit=600):
    text = text or ""
    return text if len(text) <= limit else text[:limit] + "…"


def state_word(row):
    """An agent's life in one word, for its badge and its row's class (an agent whose
    host is down runs nothing anyone can see: its host's state is all there is)."""
    if row.get("host_down"):
        return "down"
    return "failed" if row.get("failed") else ("running" if row.get("running") else "stopped")


def diff_class(line):
    """The class of a line of a unified diff."""
    if line.startswith(("+++", "---")):
        return "d-file"
    if line.startswith("+"):
        return "d-add"
    if line.startswith("-"):
        return "d-del"
    if line.startswith("@@"):
        return "d-hunk"
    return ""


STARTED_WHY = {
    "operator": lambda d: f"{d.get('by')} ran `{d.get('verb')}`",
    "crash": lambda d: (f"restarted after a crash (exit code {d.get('rc')}, "
                        f"attempt {d.get('attempt')})"),
    "config": lambda d: f"restarted on config {d.get('tag')} ({str(d.get('sha'))[:12]})",
    "rollback": lambda d: (f"restarted on the config before {d.get('tag')}, rolled back to "
                           f"{str(d.get('sha'))[:12]}"),
    "host": lambda d: "started with the host",
}


def _budget_reached(d):
    spent, budget = d.get("spent_usd"), d.get("budget_usd")
    if not all(isinstance(v, (int, float)) for v in (spent, budget)):
        return None
    return (f"{d.get('agent')} reached its daily budget: {dollars(spent)} of {dollars(budget)} "
            f"spent on {d.get('day')}; it is handed no messages until the operator raises "
            "or lifts it, or the day ends")


def event_line(data):
    """A system event as one sentence, for the events that have one (else None)."""
    if data.get("event") == "budget_reached":
        return _budget_reached(data)
    why = STARTED_WHY.get(data.get("reason")) if data.get("event") == "started" else None
    return why(data) if why else None


def hit_pieces(text, marks):
    """A search hit's snippet as (piece, is_hit) pairs, for a template to escape each piece
    and wrap the hits in <mark>: the snippet's text is never taken as markup."""
    out, at = [], 0
    for start, end in marks:
        if start > at:
            out.append((text[at:start], False))
        out.append((text[start:end], True))
        at = end
    if at < len(text):
        out.append((text[at:], False))
    return out


def marked(text, marks, before, after):
    """`text` with each (start, end) range of `marks` wrapped in `before` and `after`, as
    plain text (a page escapes `hit_pieces` instead)."""
    return "".join(before + piece + after if hit else piece
                   for piece, hit in hit_pieces(text, marks))
