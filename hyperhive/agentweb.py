"""The agent's own page, served by its harness (manager on 8000, others hashed).

Every action goes through the Harness object; this module only turns HTTP into
calls and answers into HTTP.
"""

import json
import logging
import time

import bottle
from gevent.pywsgi import WSGIServer

from .errors import BadArgs, HiveError, HTTP_STATUS

log = logging.getLogger(__name__)

KEEPALIVE = 15
MAX_BODY = 1 << 20


def make_app(harness):
    app = bottle.Bottle()

    def act(fn):
        """Run an action; 303 back for plain forms, JSON when asked, errors either way."""
        def wrapper(*args, **kwargs):
            refusal = _cross_site()
            if refusal:
                return refusal
            try:
                result = fn(*args, **kwargs) or {}
                ok, body, status = True, {"ok": True, **result}, 200
            except HiveError as exc:
                ok, body, status = False, {"ok": False, "error": exc.message,
                                           "code": exc.code}, HTTP_STATUS[exc.code]
            if _wants_json():
                bottle.response.status = status
                bottle.response.content_type = "application/json"
                return json.dumps(body)
            flash = "ok" if ok else "error"
            text = body.get("error") or body.get("message") or "done"
            bottle.redirect(f"/?{flash}={bottle.urlquote(str(text)[:200])}", 303)
        return wrapper

    @app.get("/api/state")
    def api_state():
        bottle.response.content_type = "application/json"
        return json.dumps(harness.snapshot())

    @app.get("/api/stats")
    def api_stats():
        window = bottle.request.query.get("window", "24h")
        try:
            summary = harness.stats.summary(window)
        except KeyError:
            bottle.response.status = 400
            return {"ok": False, "error": "window is one of 1h, 4h, 24h, 7d, 30d"}
        bottle.response.content_type = "application/json"
        return json.dumps(summary)

    @app.get("/events")
    def events():
        return _sse(harness.bus)

    @app.post("/send")
    @act
    def send():
        body = _field("body")
        reply = harness.host.call("wake", **{"from": "operator", "body": body})
        return {"id": reply["id"]}

    @app.post("/api/model")
    @act
    def set_model():
        return {"model": harness.set_model(_field("model").strip())}

    @app.post("/api/compact")
    @act
    def compact():
        return {"outcome": harness.compact_now()}

    @app.post("/api/new-session")
    @act
    def new_session():
        harness.new_session()
        return {}

    @app.post("/api/cancel")
    @act
    def cancel():
        return {"cancelled": harness.cancel()}

    @app.post("/login/start")
    @act
    def login_start():
        return harness.login.start()

    @app.post("/login/code")
    @act
    def login_code():
        return harness.login.send_code(_field("code"))

    @app.post("/login/cancel")
    @act
    def login_cancel():
        return harness.login.cancel()

    @app.get("/")
    def index():
        state = harness.snapshot()
        bottle.response.content_type = "text/html; charset=utf-8"
        return bottle.template(_PAGE, s=state)

    return app


def _field(name):
    if bottle.request.content_length > MAX_BODY:
        raise BadArgs("the request body is over 1 MiB")
    value = bottle.request.forms.getunicode(name)
    if value is None:
        value = (bottle.request.json or {}).get(name) if _is_json_body() else None
    if not isinstance(value, str) or not value.strip():
        raise BadArgs(f"`{name}` is required")
    return value


def _is_json_body():
    return bottle.request.content_type.startswith("application/json")


def _wants_json():
    return "application/json" in bottle.request.headers.get("Accept", "")


def _cross_site():
    site = bottle.request.headers.get("Sec-Fetch-Site")
    origin = bottle.request.headers.get("Origin")
    host = bottle.request.headers.get("Host", "")
    foreign = (site and site not in ("same-origin", "none")) or (
        origin and origin != "null" and origin.split("://", 1)[-1] != host)
    if not foreign:
        return None
    bottle.response.status = 403
    return {"ok": False, "error": "cross-site requests are refused", "code": "forbidden"}


def _sse(bus):
    try:
        last = int(bottle.request.headers.get("Last-Event-ID")
                   or bottle.request.query.get("last_event_id") or -1)
    except ValueError:
        last = -1
    kinds = {k for k in bottle.request.query.get("kinds", "").split(",") if k} or None
    bottle.response.content_type = "text/event-stream"
    bottle.response.set_header("Cache-Control", "no-cache")
    bottle.response.set_header("X-Accel-Buffering", "no")
    sub = bus.fanout.subscribe(kinds)

    def stream():
        try:
            yield "retry: 2000\n\n"
            sent = last
            if last >= 0:
                for event in bus.events_after(last, kinds):
                    sent = event["seq"]
                    yield _frame(event)
            while True:
                event = sub.get(timeout=KEEPALIVE)
                if event is None:
                    if sub.overflowed:
                        return
                    yield ": keepalive\n\n"
                elif event["seq"] > sent:
                    sent = event["seq"]
                    yield _frame(event)
        finally:
            sub.close()
    return stream()


def _frame(event):
    data = json.dumps({**event["data"], "seq": event["seq"], "at": event["at"]})
    return f"id: {event['seq']}\nevent: {event['kind']}\ndata: {data}\n\n"


def serve(harness, address):
    host, _, port = address.rpartition(":")
    server = WSGIServer((host or "127.0.0.1", int(port)), make_app(harness), log=None,
                        error_log=log)
    for attempt in range(10):
        try:
            server.start()
            return server
        except OSError as exc:
            log.warning("cannot bind %s yet (%s)", address, exc)
            time.sleep(1 + attempt)
    raise SystemExit(f"cannot bind the agent page on {address}")


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{{s['name']}} · hyperhive</title></head>
<body><h1>{{s['name']}}</h1>
<p>status {{s['status']}} · {{s['turn_state']}} · model {{s['model']}}</p>
<form method="post" action="/send"><textarea name="body"></textarea>
<button>send</button></form>
<form method="post" action="/api/cancel"><button>cancel</button></form>
</body></html>
"""
