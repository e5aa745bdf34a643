"""The agent's own page, served by its harness on page.sock; the host serves it to the
operator on the agent's port (manager 8000, others hashed) through pages.py.

Pages, all complete with JavaScript off:

- `GET /` — badges (alive, turn state, model, context, cost, last turn), the
  live turn stream (the newest events from the harness's bus, grouped by turn),
  the agent's inbox (through the host), a composer, controls and, while claude
  has no credentials, the login panel. The page follows `GET /page/events`
  from the seq it was rendered at: the fragments each event changes, rendered
  on the server (agentfeed.py), swapped in by htmx.
- `GET /stats` — turn stats over a window as numbers and tables, and the same
  summary as JSON that static/stats.js draws as uPlot charts when the chart
  library is there; `GET /stats/events` brings the new numbers after each turn.
- `GET /inbox` — the inbox panel alone (the composer shows a message it sent).
- `GET /api/state`, `GET /api/stats?window=`, `GET /api/open-threads`, and
  `GET /events`, the JSON event stream for API clients.

Every POST goes through `web.action` (303 for forms, JSON when asked,
cross-site refused) and through one Harness call (a message to the agent,
`POST /send`, is the host's: pages.py sends it as the operator); this module only turns HTTP
into those calls and their answers (or HiveErrors) back into HTTP. How things look
is agentview.py's and the templates'.
"""

import logging
import re
import time

import bottle

from . import sse, terminal, web
from .agentfeed import Feed, HostLists, StatsFeed, chart_data, page_state
from .agentview import COMMANDS, View, dashboard_url, turn_groups
from .errors import BadArgs, Unavailable
from .turnstats import WINDOWS

log = logging.getLogger(__name__)

DEFAULT_WINDOW = "24h"


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
    web.install(app, harness.settings, bind)
    streams = sse.Gauge()
    keepalive = sse.keepalive_seconds(harness.settings)
    lists = HostLists(harness)

    @app.get("/")
    def index():
        s, events = page_state(harness, streams, lists=lists)
        return web.html(web.render(
            "agent", s=s, v=View(s["now"]), groups=turn_groups(events), commands=COMMANDS,
            **flashes()))

    @app.get("/page/events")
    def page_events():
        feed = Feed(harness, lists, seen=sse.last_event_id())
        return sse.stream(harness.bus, streams, keepalive, render=feed.render, tick=feed.tick)

    @app.get("/inbox")
    def inbox_panel():
        messages, error = lists.inbox(fresh=True)
        return web.html(web.render("agent_inbox", messages=messages, error=error,
                                   name=harness.name, v=View(time.time()), oob=True))

    @app.get("/api/state")
    def api_state():
        s, _ = page_state(harness, streams, lists=lists)
        return web.json_reply(s)

    @app.get("/api/open-threads")
    def api_open_threads():
        threads, error = lists.threads()
        if error:
            return web.fail(Unavailable(error), back=None)
        return web.json_reply({"threads": threads})

    @app.get("/events")
    def events():
        return sse.stream(harness.bus, streams, keepalive)

    _stats_routes(app, harness, streams, keepalive)
    terminal.install(app, harness)
    _actions(app, harness)
    return app


def flashes(error=None):
    query = bottle.request.query
    return {"flash_ok": query.getunicode("ok"), "flash_error": error or query.getunicode("error")}


def _stats_routes(app, harness, streams, keepalive):
    def summary(window):
        return stats_summary(harness, window)

    @app.get("/stats")
    def stats():
        window = window_arg()
        error = None if window else "unknown window: showing the last 24h"
        window = window or DEFAULT_WINDOW
        seq = harness.bus.last_seq()      # before the summary: the stream replays from here
        sm = summary(window)
        now = time.time()
        return web.html(web.render(
            "stats", name=harness.name, manager=harness.is_manager, sm=sm,
            windows=list(WINDOWS), v=View(now), now=now, dashboard_url=dashboard_url(harness.settings),
            seq=seq, data=chart_data(sm), **flashes(error)))

    @app.get("/stats/events")
    def stats_events():
        feed = StatsFeed(harness, window_arg() or DEFAULT_WINDOW, summary)
        return sse.stream(harness.bus, streams, keepalive, render=feed.render, tick=feed.tick)

    @app.get("/api/stats")
    def api_stats():
        try:
            window = window_arg(required=True)
        except BadArgs as exc:
            return web.fail(exc, back=None)
        return web.json_reply(summary(window))


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
        flash = {"turn": "turn cancelled", "nap": "nap ended",
                 "rest": "rest ended: trying the message again now"}[what]
        return {"flash": flash, "cancelled": what}

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

