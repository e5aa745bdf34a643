"""Agent pages, served by the host on each agent's port and passed on to its harness.

A browser sends the operator's cookie to every port of this machine, and a
harness's process tree includes claude, so a harness never receives the
operator's requests as they come. The host listens on each agent's page port
(8000, 8100-8999) instead: it checks the operator's session there (web.install),
carries out the operator's own actions itself (POST /send is `broker.messages.send` as
the operator; the failed panel's retry and discard, on this agent's rows only), and
passes everything else, without Cookie and Authorization, to the page the harness
serves on its unix socket (`Places.page_sock`).
Streams (/events, /terminal/stream) are relayed as they come and end when the
browser hangs up. While the harness is not running the port answers 502 with
a page that says so.
"""

import http.client
import json
import logging
import socket
import time

import bottle
import gevent

from . import sse, web
from .errors import HiveError
from .names import OPERATOR

log = logging.getLogger(__name__)

UPSTREAM_TIMEOUT = 600      # a compaction asked for on the page may take minutes
CHUNK = 64 * 1024
# Never passed on to the harness: the operator's credentials and hop-by-hop headers.
# Host goes on as the browser sent it (the harness compares it with Origin).
_DROP_REQUEST = frozenset({"cookie", "authorization", "proxy-authorization", "connection",
                           "keep-alive", "proxy-connection", "te", "trailer",
                           "transfer-encoding", "upgrade", "content-length", "expect"})
# Never passed back: hop-by-hop headers, and cookies a harness has no business setting.
_DROP_RESPONSE = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer",
                            "upgrade", "proxy-authenticate", "set-cookie", "set-cookie2"})


class Pages:
    """One listener per agent on its page port, for as long as the agent exists."""

    def __init__(self, broker, sessions, places, settings, bind):
        self.broker = broker
        self.settings = settings
        self.sessions = sessions
        self.places = places
        self.bind = bind
        self._servers = {}

    def open(self, name, port):
        if name in self._servers:
            return
        app = make_app(self.broker, self.sessions, name, self.places.page_sock(name),
                       self.settings, self.bind)
        try:
            self._servers[name] = web.serve(app, self.bind, port, attempts=2)
        except OSError as exc:
            # The agent still works without its page; the dashboard shows the port.
            log.error("cannot serve %s's page on %s:%s: %s", name, self.bind, port, exc,
                      extra={"HIVE_AGENT": name})

    def close(self, name):
        server = self._servers.pop(name, None)
        if server is not None:
            server.stop(timeout=1)

    def close_all(self):
        # side by side: each waits up to a second for its open streams
        gevent.joinall([gevent.spawn(self.close, name) for name in list(self._servers)])


def make_app(broker, sessions, name, page_sock, settings, bind="127.0.0.1"):
    app = bottle.Bottle()
    web.install(app, settings, bind, sessions)

    @web.action(app, "/send", back="/#composer")
    def send(form):
        body = web.field(form, "body")       # the broker bounds it, as for any send
        reply = broker.messages.send(OPERATOR, name, body)
        return {"flash": f"sent #{reply['id']} to {name}", "id": reply["id"], "body": body,
                "at": time.time()}

    # The failed list's buttons: the operator's, on this agent's rows only.
    @web.action(app, "/retry-failed/<id>", back="/#failed")
    def retry_failed(form, id):
        mid = web.int_arg(id)
        broker.failed.retry(mid, agent=name)
        return {"flash": f"message #{mid} is back in {name}'s inbox", "id": mid}

    @web.action(app, "/discard-failed/<id>", back="/#failed")
    def discard_failed(form, id):
        mid = web.int_arg(id)
        broker.failed.discard(mid, agent=name)
        return {"flash": f"failed message #{mid} discarded", "id": mid}

    def forward(path=None):
        return relay(page_sock, name)
    app.route("/", "ANY", forward)
    app.route("/<path:path>", "ANY", forward)
    return app


# -- the relay ----------------------------------------------------------------------

class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (cooperative under gevent's monkey patching)."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = str(path)
        self.unix_sock = None

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = self.unix_sock = sock

    def cut(self):
        """End the exchange from another greenlet: the reader sees the end of the stream."""
        if self.unix_sock is not None:
            try:
                self.unix_sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def relay(page_sock, name):
    """Pass the current request to the harness's page and its answer back to the browser."""
    request = bottle.request
    try:
        body = web.read_body()
    except HiveError as exc:
        return web.fail(exc, back=None)
    conn = _UnixConnection(page_sock, UPSTREAM_TIMEOUT)
    try:
        conn.putrequest(request.method, request.environ[web.TARGET_KEY],
                        skip_host=True, skip_accept_encoding=True)
        for header, value in request.headers.items():
            if header.lower() not in _DROP_REQUEST:
                conn.putheader(header, value)
        if body or request.method not in ("GET", "HEAD"):
            conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Connection", "close")
        conn.endheaders(body or None)
        upstream = conn.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        log.info("%s's page is not answering: %s", name, exc, extra={"HIVE_AGENT": name})
        return harness_down(name)
    response = bottle.HTTPResponse(
        _stream(conn, upstream, request.environ.get(sse.SOCKET_KEY)), status=upstream.status)
    seen = set()
    for header, value in upstream.getheaders():
        key = header.lower()
        if key in _DROP_RESPONSE:
            continue
        (response.add_header if key in seen else response.set_header)(header, value)
        seen.add(key)
    return response


def _stream(conn, upstream, client):
    """The harness's answer as it comes; a browser that hangs up ends the request upstream
    too, so the harness's own stream ends with it."""
    try:
        with sse.on_hangup(client, conn.cut):
            while True:
                chunk = upstream.read1(CHUNK)
                if not chunk:
                    return
                yield chunk
    except (OSError, http.client.HTTPException):
        return      # cut (the browser left), or the harness went away mid-answer
    finally:
        conn.close()


def harness_down(name):
    why = f"the agent's harness is not running, so {name}'s page cannot be shown"
    hint = "start it from the dashboard (or `hyperhive ctl start " + name + "`), then reload"
    if web.wants_json():
        return bottle.HTTPResponse(
            json.dumps({"ok": False, "error": f"{why}; {hint}", "code": "unavailable"}),
            status=502,
            headers={"Content-Type": "application/json"})
    return bottle.HTTPResponse(
        web.render("harness_down", name=name, why=why, hint=hint), status=502,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})
