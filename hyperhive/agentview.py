"""How the agent's page shows things: stream rows, tool lines, turn groups, thread lines
and state words, as plain data for its templates.

No request or response here: the page's routes (agentweb.py) and its live feed
(agentfeed.py) call these for the first render and for every live update alike,
so a row looks the same whether it came with the page or arrived later, and the
browser never needs a copy of these rules.
"""

import json
import time
from urllib.parse import urlsplit

from . import formats
from .names import OPERATOR

RESULT_FOLD = 120           # a tool result longer than this is folded
LINE_FOLD = 200             # a tool call or message head longer than this is folded
HYPERHIVE_PREFIX = "mcp__hyperhive__"


def dashboard_url(settings):
    """The host dashboard's address from HYPERHIVE_DASHBOARD_URL, or None (also for port 0)."""
    url = settings.dashboard_url
    if not url:
        return None
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.port == 0:
            return None
    except ValueError:
        return None
    return url


def thread_text(t):
    """One open thread as a line."""
    if t.get("kind") == "approval":
        return f"approval #{t.get('id')} pending: {_s(t.get('summary'))}"
    return (f"question #{t.get('id')} from {_s(t.get('asker'))} to {_s(t.get('target'))}: "
            f"{_s(t.get('summary'))}")


def _num(x):
    if x is None:
        return "—"
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def size(n):
    """A byte count as the stats page shows it (1024-based)."""
    if n is None:
        return "—"
    n = float(n)
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _json(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _s(value):
    return "" if value is None else value if isinstance(value, str) else _json(value)


def tool_line(name, args):
    """A tool call as a person would say it: `Read /path`, `Bash $ ls`, `send → bob: hi`."""
    name = str(name or "?")
    a = args if isinstance(args, dict) else {}
    short = name[len(HYPERHIVE_PREFIX):] if name.startswith(HYPERHIVE_PREFIX) else None
    path = a.get("file_path") or a.get("notebook_path") or a.get("path")
    if name in ("Read", "Edit", "MultiEdit", "NotebookEdit", "LS") and path:
        return f"{name} {_s(path)}"
    if name == "Write" and a.get("file_path"):
        content = a.get("content")
        lines = f" ({content.count(chr(10)) + 1} lines)" if isinstance(content, str) else ""
        return f"Write {_s(a['file_path'])}{lines}"
    if name == "Bash" and "command" in a:
        return f"Bash $ {_s(a['command'])}"
    if name in ("Glob", "Grep") and "pattern" in a:
        where = f" in {_s(a['path'])}" if a.get("path") else ""
        return f"{name} {_s(a['pattern'])}{where}"
    if name == "TodoWrite" and isinstance(a.get("todos"), list):
        return f"TodoWrite ({len(a['todos'])} items)"
    if short == "send":
        thread = f" (↳ #{_s(a['in_reply_to'])})" if a.get("in_reply_to") is not None else ""
        return f"send → {_s(a.get('to'))}{thread}: {_s(a.get('body'))}"
    if short == "recv":
        parts = []
        if a.get("wait_seconds"):
            parts.append(f"wait {_num(a['wait_seconds'])}s")
        if a.get("max"):
            parts.append(f"max {_num(a['max'])}")
        return "recv" + (f" ({', '.join(parts)})" if parts else "")
    if short == "nap" and "seconds" in a:
        return f"nap {_num(a['seconds'])}s"
    if short == "ask":
        options = a.get("options")
        choice = (f" [{' / '.join(_s(o) for o in options)}]"
                  if isinstance(options, list) and options else "")
        return f"ask → {_s(a.get('to') or OPERATOR)}: {_s(a.get('question'))}{choice}"
    if short == "answer":
        return f"answer #{_s(a.get('id'))}: {_s(a.get('answer'))}"
    if short == "remind":
        when = (f" in {_num(a['delay_seconds'])}s" if a.get("delay_seconds") is not None
                else f" at {formats.clock(a['at'])}" if isinstance(a.get("at"), (int, float)) else "")
        return f"remind{when}: {_s(a.get('message'))}"
    if short == "set_status":
        return f"set_status: {_s(a.get('text'))}"
    if short in ("request_spawn", "start", "stop", "restart", "rebuild") and a.get("name"):
        desc = f": {_s(a['description'])}" if a.get("description") else ""
        return f"{short} {_s(a['name'])}{desc}"
    if short == "request_apply_commit":
        return f"request_apply_commit {_s(a.get('agent'))} @ {_s(a.get('commit_ref'))[:12]}"
    if short is not None and not a:
        return short
    return f"tool {name} {_json(args if args is not None else {})}"


def row(cls, glyph, text, limit=None, title=None):
    """One stream row; text longer than `limit` shows its first line and folds the rest."""
    text = _s(text)
    fold = None
    if limit is not None and len(text) > limit:
        fold = text
        text = text.split("\n", 1)[0][:limit] + "…"
    return {"cls": cls, "glyph": glyph, "text": text, "fold": fold, "title": title}


def stream_rows(data):
    """The rows for one `stream` event (see stream.summarise for its keys)."""
    t = data.get("t")
    if t == "blocks":
        return [r for item in data.get("items") or [] if isinstance(item, dict)
                for r in stream_rows(item)]
    if t == "text":
        return [row("r-text", "◆", data.get("text"))] if data.get("text") else []
    if t == "thinking":
        return [row("r-thinking", "·", data.get("text"), RESULT_FOLD)]
    if t == "tool_use":
        title = f"{data.get('name')} {_json(data.get('input'))}"[:2000]
        return [row("r-tool", "→", tool_line(data.get("name"), data.get("input")), LINE_FOLD,
                    title=title)]
    if t == "tool_result":
        if data.get("is_error"):
            return [row("r-result is-error", "✗", data.get("text") or "(error)", RESULT_FOLD)]
        return [row("r-result", "←", data.get("text") or "(no output)", RESULT_FOLD)]
    if t == "error":
        status = f" {data['status']}" if data.get("status") else ""
        return [row("r-error", "✗", f"API error{status}: {_s(data.get('text') or data.get('error'))}",
                    LINE_FOLD)]
    if t == "interrupted":
        return [row("r-warn", "✗", "interrupted")]
    if t == "user":
        return [row("r-user", "·", data.get("text"), RESULT_FOLD)] if data.get("text") else []
    if t == "system":
        return _system_rows(data)
    if t == "result":
        if data.get("is_error"):
            return [row("r-error", "✗", f"{_s(data.get('subtype'))}: {_s(data.get('text'))}",
                        LINE_FOLD)]
        return []
    return [row("r-other", "·", f"{_s(t)} {_json(data)}", LINE_FOLD)]


def _system_rows(data):
    sub = data.get("subtype")
    if sub == "api_retry":
        delay = f" in {formats.ms_text(data['delay_ms'])}" if data.get("delay_ms") is not None else ""
        return [row("r-warn", "⌁", f"api retry {_s(data.get('attempt'))}/{_s(data.get('max'))}: "
                    f"{_s(data.get('status'))} {_s(data.get('error'))}{delay}")]
    if sub == "status":
        if data.get("compact_result"):
            err = f": {_s(data['compact_error'])}" if data.get("compact_error") else ""
            return [row("r-system", "⌁", f"compaction {_s(data['compact_result'])}{err}")]
        if data.get("status"):
            return [row("r-system", "⌁", f"{_s(data['status'])}…")]
        return []
    if sub == "compact_boundary":
        return [row("r-system", "⌁", f"compacted ({_s(data.get('trigger'))}): "
                    f"{formats.full(data.get('pre_tokens'))} → {formats.full(data.get('post_tokens'))} tokens")]
    if sub == "rate_limit":
        return [row("r-warn" if data.get("status") == "rejected" else "r-system", "⏸",
                    f"rate limit {_s(data.get('window'))}: {_s(data.get('status'))}, resets "
                    f"{formats.clock(data.get('resets_at')) or '?'}")]
    if sub == "permission_denied":
        return [row("r-error", "✗", f"denied {_s(data.get('name'))}: {_s(data.get('text'))}",
                    LINE_FOLD)]
    return []


NOTE_STYLE = {"stderr": ("r-stderr", "!"), "warn": ("r-warn", "!"), "error": ("r-error", "✗"),
              "login": ("r-login", "⌁"), "info": ("r-info", "·")}


def note_row(data):
    cls, glyph = NOTE_STYLE.get(data.get("level"), ("r-op", "·"))
    text = _s(data.get("text"))
    if data.get("level") == "login":
        text = "login: " + text
    return row(cls, glyph, text, LINE_FOLD)


def outcome_class(outcome):
    """How a turn's outcome is coloured, in its end row and in the last-turn badge."""
    if outcome == "ok":
        return "is-ok"
    return "is-warn" if outcome in ("cancelled", "rate_limited") else "is-bad"


def end_row(data):
    outcome = data.get("outcome") or "?"
    took = formats.ms_text(data.get("duration_ms"))
    note = f": {_s(data['note'])}" if data.get("note") else ""
    cls = "r-end " + outcome_class(outcome)
    if outcome == "ok":
        return row(cls, "✓", f"ok {took}")
    return row(cls, "✗", f"{outcome} {took}{note}", LINE_FOLD,
               title=f"{data.get('duration_ms')} ms")


def event_rows(event):
    """Rows for an event shown inside the stream (turn_start and turn_end aside)."""
    kind, data = event["kind"], event["data"]
    if kind == "stream":
        return stream_rows(data)
    if kind == "note":
        return [note_row(data)]
    if kind == "model_changed":
        return [row("r-info", "·", f"model → {_s(data.get('model'))}")]
    if kind == "status_changed":
        return [row("r-info", "·", f"status → {_s(data.get('status'))}")]
    if kind == "turn_state_changed" and data.get("state") == "napping" and data.get("until"):
        return [row("r-info", "💤", f"napping until {formats.clock(data['until'])}")]
    if kind == "turn_state_changed" and data.get("state") == "retrying" and data.get("until"):
        return [row("r-info", formats.turn_glyph("retrying"),
                    f"retrying at {formats.clock(data['until'])}")]
    return []


def group(start=None, rows=(), end=None):
    """One turn group as agent_turn.tpl shows it; `start` is a turn_start event."""
    if start is not None:
        head = row("", "", start["data"].get("body"), LINE_FOLD)
        start = {**start["data"], "at": start["at"], "head": head["text"], "fold": head["fold"]}
    return {"start": start, "rows": list(rows), "end": end}


def takes_rows(events):
    """Whether the last group of `turn_groups(events)` is still open to more rows."""
    for event in reversed(events):
        if event["kind"] == "turn_end":
            return False
        if event["kind"] == "turn_start" or event_rows(event):
            return True
    return False


def turn_groups(events):
    """The stream as groups: {start, rows, end}; events outside a turn gather in start-less groups."""
    groups = []
    current = None
    for event in events:
        kind = event["kind"]
        if kind == "turn_start":
            current = group(event)
            groups.append(current)
            continue
        if kind == "turn_end":
            if current is None:
                current = group()
                groups.append(current)
            current["end"] = end_row(event["data"])
            current = None
            continue
        rows = event_rows(event)
        if not rows:
            continue
        if current is None:
            current = group()
            groups.append(current)
        current["rows"].extend(rows)
    return groups


ALIVE = {
    "loading": ("◌ loading", "the harness is starting: writing claude's files, "
                "installing plugins"),
    "online": ("● online", "the harness is running and takes messages"),
    "needs_login_idle": ("⚠ needs login", "claude has no credentials: start a login "
                         "in the panel below"),
    "needs_login_in_progress": ("⌁ logging in", "a login is running: open its link and "
                                "paste the code you get"),
    "offline": ("○ offline", "the harness has stopped"),
}


class View:
    """What the templates call."""

    def __init__(self, now):
        self.now = now
        self.duration = formats.duration
        self.ms_text = formats.ms_text
        self.compact = formats.compact
        self.full = formats.full
        self.money = formats.money
        self.clock = formats.clock
        self.mmss = formats.mmss
        self.num = _num
        self.thread_text = thread_text
        self.size = size

    def age(self, ts):
        return formats.duration(self.now - ts) if ts else ""

    def due(self, ts):
        """What is left before a reminder is due: 1h 20m, then expired."""
        return formats.expires_in(ts - self.now)

    def countdown(self, deadline):
        """A nap's time left: "04:59 left", then "any moment now"."""
        left = deadline - self.now
        return f"{formats.mmss(left)} left" if left > 0 else "any moment now"

    def turn_age(self, s):
        """The ticking part of the turn-state badge: a nap's or a rest's countdown, or the
        state's age."""
        if s["turn_state"] == "napping" and s.get("nap_until"):
            return self.countdown(s["nap_until"])
        if s["turn_state"] == "retrying" and s.get("retry_until"):
            return self.countdown(s["retry_until"])
        return self.age(s["turn_state_since"])

    @staticmethod
    def sent(series, i, classes):
        """One bucket's sends, by recipient class: "2 peer · 1 operator"."""
        parts = [f"{series[f'sends_{k}'][i]} {k}" for k in classes if series[f"sends_{k}"][i]]
        return " · ".join(parts) or "0"

    @staticmethod
    def stamp(ts, step):
        """A bucket's start: the clock within a day, the date and hour past that."""
        fmt = "%H:%M" if step < 86400 / 4 else "%m-%d %H:%M"
        return time.strftime(fmt, time.localtime(ts))

    @staticmethod
    def glyph(state):
        return formats.turn_glyph(state)

    def alive(self, status, rate_limited_until=None):
        if status == "rate_limited":
            return formats.rate_limited(rate_limited_until, self.now)
        return ALIVE.get(status, (status or "?", "status " + str(status)))

    def turn_title(self, state, since, until=None):
        at = formats.clock(since)
        return {
            "thinking": f"claude is working on a turn since {at}; ■ cancel stops it",
            "compacting": f"the session is being summarised since {at} so the next turn "
                          "fits the context window",
            "napping": f"napping since {at} until {formats.clock(until)}: messages wait in the inbox; "
                       "■ cancel wakes the agent",
            "retrying": f"the last turn failed at {at}; the same message is tried again at "
                        f"{formats.clock(until)} (■ cancel: now)",
            "idle": f"waiting for a message since {at}",
        }.get(state, f"{state} since {at}")

    def ctx_title(self, usage):
        if not usage:
            return "no turn yet: the context size shows after the first one"
        return (f"context after the last turn: {formats.full(usage.get('ctx'))} tokens · input "
                f"{formats.full(usage.get('input'))} · cache read {formats.full(usage.get('cache_read'))} · "
                f"cache write {formats.full(usage.get('cache_write'))} · output "
                f"{formats.full(usage.get('output'))}")

    @staticmethod
    def cost_title(usage):
        if not usage:
            return "no turn yet"
        return f"the last turn cost ${usage.get('cost_usd') or 0:.6f}, as claude reported it"

    @staticmethod
    def last_title(last):
        return f"{last.get('duration_ms')} ms · ended at {formats.clock(last.get('at'))}"

    @staticmethod
    def last_class(outcome):
        return outcome_class(outcome)


# The composer's slash commands, for its /help and Tab completion (static/agent.js runs them).
COMMANDS = (
    ("/model", "NAME", "set the model for the next turn (haiku, sonnet, opus or a full model id)"),
    ("/compact", "", "summarise the session now (only while idle)"),
    ("/new-session", "", "the next turn starts a fresh claude session"),
    ("/cancel", "", "stop the running turn, or end a nap"),
    ("/clear", "", "clear this view (the history stays on the harness)"),
    ("/help", "", "show these commands"),
)
