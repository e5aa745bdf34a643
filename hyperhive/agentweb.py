"""The agent's own page, served by its harness on page.sock; the host serves it to the
operator on the agent's port (manager 8000, others hashed) through pages.py.

Pages, all complete with JavaScript off:

- `GET /` — badges (alive, turn state, model, context, cost, last turn), the
  live turn stream (the newest events from the harness's bus, grouped by turn),
  the agent's inbox (through the host), a composer, controls and, while claude
  has no credentials, the login panel. static/agent.js follows `/events` and
  applies every event in place.
- `GET /stats` — turn stats over a window as numbers and tables;
  static/stats.js draws them as uPlot charts from `/api/stats` when the chart
  library is there.
- `GET /api/state`, `GET /api/stats?window=`, `GET /events`.

Every POST goes through `web.action` (303 for forms, JSON when asked,
cross-site refused) and through one Harness call (a message to the agent,
`POST /send`, is the host's: pages.py sends it as the operator); this module only turns HTTP
into those calls and their answers (or HiveErrors) back into HTTP. The
row-building rules for the stream live here and, in the same shape, in
static/agent.js.
"""

import json
import logging
import os
import re
import time
from urllib.parse import urlsplit

import bottle

from . import formats, sse, terminal, web
from .client import RemoteError
from .errors import BadArgs, Unavailable
from .names import OPERATOR
from .turnstats import WINDOWS

log = logging.getLogger(__name__)

HISTORY = 300               # events rendered into the page
INBOX_LIMIT = 30
DEFAULT_WINDOW = "24h"
RESULT_FOLD = 120           # a tool result longer than this is folded
LINE_FOLD = 200             # a tool call or message head longer than this is folded
HYPERHIVE_PREFIX = "mcp__hyperhive__"
STATES = ("idle", "thinking", "compacting", "napping")


# -- serving ---------------------------------------------------------------------

def serve(harness, address):
    """Start the page in the background and return the server.

    `address` is a unix socket path (what the host gives: the host serves the page
    to the operator behind the session check and passes requests on to it), or
    HOST:PORT, for tests and tools, where nothing checks the operator's session.
    """
    try:
        if str(address).startswith("/"):
            return web.serve_unix(make_app(harness, str(address)), address)
        bind, port = split_address(address)
        log.warning("serving the page on %s with no operator session check", address)
        return web.serve(make_app(harness, bind), bind, port, attempts=10)
    except OSError as exc:
        raise SystemExit(f"cannot serve the agent page on {address}: {exc}") from None


def split_address(address):
    host, _, port = str(address).rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        return host, int(port)
    except ValueError:
        raise SystemExit(f"the page address must be HOST:PORT, not {address!r}") from None


def dashboard_url():
    """The host dashboard's address from HYPERHIVE_DASHBOARD_URL, or None (also for port 0)."""
    url = (os.environ.get("HYPERHIVE_DASHBOARD_URL") or "").strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.port == 0:
            return None
    except ValueError:
        return None
    return url


# -- state -----------------------------------------------------------------------

def page_state(harness, streams=None, events=None):
    """The snapshot plus what the page shows beside it.

    `seq` is read before anything else, so a page that follows /events from
    `seq` on misses nothing; events newer than it are left to that replay.
    Usage and the last turn live only in the harness's memory, so after a
    restart they are taken from the newest events, then from turn_stats.
    """
    seq = harness.bus.last_seq()
    snap = harness.snapshot()
    snap["seq"] = seq
    if events is None:
        events = harness.bus.history(HISTORY)
    events = [e for e in events if e["seq"] <= seq]
    if not snap.get("usage"):
        snap["usage"] = _last_data(events, "token_usage_changed") or _usage_from_stats(harness)
    if not snap.get("last_turn"):
        end = _last_event(events, "turn_end")
        snap["last_turn"] = ({"at": end["at"], "duration_ms": end["data"].get("duration_ms"),
                              "outcome": end["data"].get("outcome")} if end
                             else _last_turn_from_stats(harness))
    snap["inbox"], snap["inbox_error"] = inbox(harness)
    snap["threads"], snap["threads_error"] = open_threads(harness)
    snap["streams"] = int(streams) if streams is not None else 0
    snap["now"] = time.time()
    snap["dashboard_url"] = dashboard_url()
    return snap, events


def _last_event(events, kind):
    return next((e for e in reversed(events) if e["kind"] == kind), None)


def _last_data(events, kind):
    event = _last_event(events, kind)
    return dict(event["data"]) if event else None


def _stats_last(harness):
    try:
        return harness.stats.last_turn()
    except Exception:
        log.exception("could not read the last turn from turn_stats")
        return None


def _usage_from_stats(harness):
    row = _stats_last(harness)
    if not row:
        return {}
    return {"ctx": None, "input": row["input_tokens"], "output": row["output_tokens"],
            "cache_read": row["cache_read_input_tokens"],
            "cache_write": row["cache_creation_input_tokens"], "cost_usd": row["cost_usd"]}


def _last_turn_from_stats(harness):
    row = _stats_last(harness)
    if not row:
        return None
    return {"at": row["ended_at"], "duration_ms": row["duration_ms"],
            "outcome": row["result_kind"]}


def inbox(harness):
    """(messages, error): the agent's newest messages through the host, newest first."""
    return _host_list(harness, "recent", "messages", limit=INBOX_LIMIT)


def open_threads(harness):
    """(threads, error): the approvals and questions that involve the agent."""
    return _host_list(harness, "open_threads", "threads")


def _host_list(harness, cmd, key, **fields):
    """(a list from the host's reply, None) or ([], why not): a page shows either."""
    try:
        reply = harness.host.call(cmd, timeout=5, **fields)
    except RemoteError as exc:
        return [], f"the host refused: {exc}"
    except (OSError, ValueError, ConnectionError) as exc:
        return [], f"the host is not answering ({type(exc).__name__})"
    return list(reply.get(key) or []), None


def thread_text(t):
    """One open thread as a line; static/agent.js writes the same."""
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
    """A byte count as the stats page shows it (1024-based, like static/stats.js)."""
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


def end_row(data):
    outcome = data.get("outcome") or "?"
    took = formats.ms_text(data.get("duration_ms"))
    note = f": {_s(data['note'])}" if data.get("note") else ""
    if outcome == "ok":
        return row("r-end is-ok", "✓", f"ok {took}")
    cls = "r-end is-warn" if outcome in ("cancelled", "rate_limited") else "r-end is-bad"
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
    return []


def turn_groups(events):
    """The stream as groups: {start, rows, end}; events outside a turn gather in start-less groups."""
    groups = []
    current = None
    for event in events:
        kind = event["kind"]
        if kind == "turn_start":
            head = row("", "", event["data"].get("body"), LINE_FOLD)
            start = {**event["data"], "at": event["at"], "head": head["text"], "fold": head["fold"]}
            current = {"start": start, "rows": [], "end": None}
            groups.append(current)
            continue
        if kind == "turn_end":
            if current is None or current["end"] is not None:
                current = {"start": None, "rows": [], "end": None}
                groups.append(current)
            current["end"] = end_row(event["data"])
            current = None
            continue
        rows = event_rows(event)
        if not rows:
            continue
        if current is None:
            current = {"start": None, "rows": [], "end": None}
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
    "rate_limited": ("⏸ rate limited", "the API refused for rate limits: the agent rests, "
                     "then takes the same message again"),
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

    def alive(self, status):
        return ALIVE.get(status, (status or "?", "status " + str(status)))

    def turn_title(self, state, since, until=None):
        at = formats.clock(since)
        return {
            "thinking": f"claude is working on a turn since {at}; ■ cancel stops it",
            "compacting": f"the session is being summarised since {at} so the next turn "
                          "fits the context window",
            "napping": f"napping since {at} until {formats.clock(until)}: messages wait in the inbox; "
                       "■ cancel wakes the agent",
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
        return "is-ok" if outcome == "ok" else (
            "is-warn" if outcome in ("cancelled", "rate_limited") else "is-bad")


# -- the app ---------------------------------------------------------------------

def window_arg(required=False):
    window = bottle.request.query.get("window") or DEFAULT_WINDOW
    if window not in WINDOWS:
        if required:
            raise BadArgs(f"window is one of {', '.join(WINDOWS)}")
        return None
    return window


def stats_summary(harness, window):
    """The turn stats, plus the notes limit: the line notes_bytes is heading for."""
    summary = harness.stats.summary(window)
    summary["notes_limit"] = harness.notes.limit or None
    return summary


def make_app(harness, bind="127.0.0.1"):
    app = bottle.Bottle()
    web.install(app, bind)
    streams = sse.Gauge()

    def flashes(error=None):
        query = bottle.request.query
        return {"flash_ok": query.getunicode("ok"),
                "flash_error": error or query.getunicode("error")}

    @app.get("/")
    def index():
        s, events = page_state(harness, streams)
        return web.html(web.render(
            "agent", s=s, v=View(s["now"]), groups=turn_groups(events), **flashes()))

    @app.get("/api/open-threads")
    def api_open_threads():
        threads, error = open_threads(harness)
        if error:
            return web.fail(Unavailable(error), back=None)
        return web.json_reply({"threads": threads})

    @app.get("/stats")
    def stats():
        window = window_arg()
        error = None if window else "unknown window: showing the last 24h"
        window = window or DEFAULT_WINDOW
        summary = stats_summary(harness, window)
        now = time.time()
        return web.html(web.render(
            "stats", name=harness.name, manager=harness.is_manager, summary=summary,
            windows=list(WINDOWS), v=View(now), now=now, dashboard_url=dashboard_url(),
            seq=harness.bus.last_seq(), **flashes(error)))

    @app.get("/api/state")
    def api_state():
        s, _ = page_state(harness, streams)
        return web.json_reply(s)

    @app.get("/api/stats")
    def api_stats():
        try:
            window = window_arg(required=True)
        except BadArgs as exc:
            return web.fail(exc, back=None)
        return web.json_reply(stats_summary(harness, window))

    @app.get("/events")
    def events():
        return sse.stream(harness.bus, streams)

    terminal.install(app, harness)
    _actions(app, harness)
    return app


def _actions(app, harness):
    def post(path, back="/"):
        return web.action(app, path, back)

    @post("/api/model")
    def set_model(form):
        model = harness.set_model(web.field(form, "model", strip=True))
        return {"flash": f"model set to {model}: the next turn uses it", "model": model}

    @post("/api/compact")
    def compact_now(form):
        outcome = harness.compact_now()
        return {"flash": f"compaction {outcome}", "outcome": outcome}

    @post("/api/new-session")
    def new_session(form):
        harness.new_session()
        return {"flash": "the next turn starts a fresh session"}

    @post("/api/cancel")
    def cancel(form):
        what = harness.cancel()
        return {"flash": "turn cancelled" if what == "turn" else "nap ended",
                "cancelled": what}

    @post("/login/start", back="/#login")
    def login_start(form):
        return {"flash": "login started", **harness.login.start()}

    @post("/login/code", back="/#login")
    def login_code(form):
        code = web.field(form, "code", strip=True)
        if re.search(r"\s", code):
            raise BadArgs("the code is one word: paste it without spaces")
        return {"flash": "code sent", **harness.login.send_code(code)}

    @post("/login/cancel", back="/#login")
    def login_cancel(form):
        return {"flash": "login cancelled", **harness.login.cancel()}

