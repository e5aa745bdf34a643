"""Attacks on the pages from another process on the machine: each one is the exact request
an agent's shell could make (curl on loopback), refused, and with no effect.

A real host (process backend, claude /bin/false), a real harness for alice, real sqlite.
"""

import hashlib
import json
import os
import shutil
import socket
import sqlite3
import threading
import time
import urllib.parse

import pytest

from hive import COOKIE, HostProcess, free_port, open_link, wait_for
from test_agent_page import Page
from test_dashboard import SSE, Dash
from test_e2e import row
from test_terminal import Stream, b64, gone, up

FRAMING = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
HOWTO = "hyperhive ctl login-url"


@pytest.fixture(scope="module")
def hive():
    h = HostProcess(dashboard_port=free_port()).start()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        dash = Dash(h.dashboard_port, h.cookie)
        alice = Page(row(h, "alice")["port"], h.cookie)
        wait_for(lambda: up(alice), 20, what="alice's page")
        yield h, dash, alice
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


def anonymous(page):
    """The same page with no cookie: what another process on the machine can send."""
    return type(page)(page.port)


def still_serving(h):
    """The host answers on the admin socket and on an agent's socket within a second."""
    started = time.monotonic()
    assert h.admin("hello")["ok"]
    assert h.agent("alice", "status", timeout=1)["ok"]
    assert time.monotonic() - started < 1


def refused(status, body, as_json=True):
    assert status == 401, (status, body[:300])
    text = json.loads(body)["error"] if as_json else body
    assert HOWTO in text, text[:300]


def post_json(page, path, fields=None, headers=None):
    """The curl request: a POST asking for JSON, with no Origin and no Sec-Fetch-Site."""
    hdrs = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
            **(headers or {})}
    status, _, body = page.request("POST", path, urllib.parse.urlencode(fields or {}), hdrs)
    return status, body


# -- the dashboard ---------------------------------------------------------------------

def test_a_curl_approve_without_a_session_is_refused_and_stays_pending(hive):
    h, dash, _ = hive
    aid = h.admin("request_spawn", name="mallory")["id"]
    status, body = post_json(anonymous(dash), f"/approve/{aid}")
    refused(status, body)
    status, body = post_json(anonymous(dash), f"/approve/{aid}",
                             headers={"Cookie": f"{COOKIE}=forged-{'x' * 40}"})
    refused(status, body)
    listed = h.ctl("pending")
    assert listed.returncode == 0 and f"#{aid}" in listed.stdout and "mallory" in listed.stdout
    assert "mallory" not in h.admin("list")["agents"]
    still_serving(h)
    h.admin("deny", id=aid)


def test_sending_as_the_operator_without_a_session_is_refused_and_sends_nothing(hive):
    h, dash, alice = hive
    before = dash.state()["flow"]
    for page, path, fields in ((dash, "/send", {"to": "alice", "body": "forged from curl"}),
                               (alice, "/send", {"body": "forged from curl"})):
        status, body = post_json(anonymous(page), path, fields)
        refused(status, body)
        # a form post (no JSON asked) gets the page that says how to log in
        status, _, html = anonymous(page).post(path, fields)
        assert status == 401 and HOWTO in html
    assert dash.state()["flow"] == before
    recent = h.agent("alice", "recent")["messages"]
    assert not any("forged" in m["body"] for m in recent)
    still_serving(h)


def test_answering_the_operators_question_without_a_session_is_refused(hive):
    h, dash, _ = hive
    qid = h.agent("alice", "ask", question="deploy to production?")["id"]
    try:
        status, body = post_json(anonymous(dash), f"/answer/{qid}", {"answer": "yes"})
        refused(status, body)
        status, body = post_json(anonymous(dash), f"/cancel-question/{qid}")
        refused(status, body)
        assert any(q["id"] == qid for q in h.admin("questions")["questions"])
        still_serving(h)
    finally:
        h.admin("cancel_question", id=qid)


def test_no_page_stream_or_api_answers_without_a_session(hive):
    _, dash, alice = hive
    for page in (dash, alice):
        nobody = anonymous(page)
        for path in ("/", "/api/state", "/events", "/events/page", "/stats", "/terminal",
                     "/terminal/stream", "/api/journal/alice", "/api/open-threads",
                     "/api/stats?window=1h"):
            status, _, body = nobody.request("GET", path, headers={"Accept": "application/json"})
            refused(status, body)
            assert '"agents"' not in body and '"inbox"' not in body
        status, _, html = nobody.request("GET", "/")
        refused(status, html, as_json=False)
        assert "<html" in html
        # static files need no session (the 401 page itself uses them)
        assert nobody.request("GET", "/static/hive.css")[0] == 200
    # an SSE client without the cookie gets the 401, never a stream
    sse = SSE(anonymous(dash))
    try:
        sse.wait(lambda s: s.headers is not None, what="the answer's head")
        assert sse.headers.startswith("HTTP/1.1 401")
        assert not sse.events
    finally:
        sse.close()


# -- the agent page: the terminal and the harness's own actions ----------------------------

def test_a_terminal_cannot_be_started_or_typed_into_without_a_session(hive):
    h, _, alice = hive
    nobody = anonymous(alice)
    status, body = post_json(nobody, "/terminal/start", {"rows": 24, "cols": 80})
    refused(status, body)
    assert "○ no shell" in alice.html("/terminal")
    # with a shell the operator started, a forged keystroke still does nothing
    pid = alice.act("/terminal/start")["pid"]
    marker = h.root / "typed-by-an-attacker"
    try:
        status, body = post_json(nobody, "/terminal/input",
                                 {"data": b64(f"touch {marker}\r")})
        refused(status, body)
        for path in ("/terminal/stop", "/terminal/resize"):
            status, body = post_json(nobody, path, {"rows": 5, "cols": 5})
            refused(status, body)
        time.sleep(0.5)
        assert not marker.exists()
        assert f"pid {pid}" in alice.html("/terminal")
        still_serving(h)
    finally:
        alice.act("/terminal/stop")
        wait_for(lambda: gone(pid), 10, what="the shell to end")


def test_the_harnesses_own_actions_need_a_session(hive):
    h, _, alice = hive
    model = alice.state()["model"]
    for path, fields in (("/api/model", {"model": "opus"}), ("/api/compact", {}),
                         ("/api/new-session", {}), ("/api/cancel", {}), ("/login/start", {}),
                         ("/login/code", {"code": "abc"}), ("/login/cancel", {})):
        status, body = post_json(anonymous(alice), path, fields)
        refused(status, body)
    assert alice.state()["model"] == model
    assert alice.state()["login"]["running"] is False
    still_serving(h)


# -- login links -------------------------------------------------------------------------

def open_raw(url):
    """GET a link; (status, Set-Cookie header or None, body)."""
    link = urllib.parse.urlsplit(url)
    page = Page(link.port)
    status, headers, body = page.request("GET", link.path)
    return status, headers.get("Set-Cookie"), body


def test_a_login_link_works_once(hive):
    h, dash, _ = hive
    url = h.admin("login_url")["url"]
    assert url.startswith(f"http://127.0.0.1:{h.dashboard_port}/login/")
    cookie = open_link(urllib.parse.urlsplit(url))
    assert Dash(dash.port, f"{COOKIE}={cookie}").get("/api/state")[0] == 200
    status, set_cookie, body = open_raw(url)
    assert status == 401 and set_cookie is None
    assert "used, expired or unknown" in body and HOWTO in body
    still_serving(h)


def test_two_redeems_of_one_link_cannot_both_win(hive):
    h, _, _ = hive
    for _ in range(5):
        url = h.admin("login_url")["url"]
        results = []
        threads = [threading.Thread(target=lambda: results.append(open_raw(url)))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r[0] for r in results) == [303, 401, 401, 401]
        assert sum(1 for r in results if r[1]) == 1


def test_a_forged_or_expired_login_link_is_refused(hive):
    h, _, _ = hive
    base = f"http://127.0.0.1:{h.dashboard_port}/login/"
    for token in ("A" * 43, "x" * 16, "not-a-token-at-all-but-long-enough"):
        status, set_cookie, body = open_raw(base + token)
        assert status == 401 and set_cookie is None and HOWTO in body, token
    # a real link, expired: the host's own table says so (no ten-minute wait)
    url = h.admin("login_url")["url"]
    token = url.rsplit("/", 1)[1]
    digest = hashlib.sha256(token.encode()).hexdigest()
    with sqlite3.connect(h.root / "lib" / "broker.sqlite", timeout=10) as db:
        rows = db.execute("SELECT digest FROM login_tokens").fetchall()
        assert (digest,) in rows and not any(token in r[0] for r in rows)
        db.execute("UPDATE login_tokens SET expires_at = ? WHERE digest = ?",
                   (time.time() - 1, digest))
    status, set_cookie, body = open_raw(url)
    assert status == 401 and set_cookie is None
    still_serving(h)


def test_logout_ends_the_session_everywhere(hive):
    h, dash, alice = hive
    cookie = h.login()
    mine = Dash(dash.port, cookie)
    assert mine.get("/api/state")[0] == 200
    assert Page(alice.port, cookie).get("/api/state")[0] == 200
    status, headers, _ = mine.post("/logout")
    assert status == 303
    cleared = headers["Set-Cookie"]
    assert cleared.startswith(f'{COOKIE}="";') and "expires=Thu, 01 Jan 1970" in cleared
    status, _, body = mine.request("GET", "/api/state", headers={"Accept": "application/json"})
    refused(status, body)
    status, body = Page(alice.port, cookie).get("/api/state")
    assert status == 401
    # the others' sessions go on
    assert dash.get("/api/state")[0] == 200


def test_the_database_keeps_no_usable_secret(hive):
    h, _, _ = hive
    cookie = h.login().split("=", 1)[1]
    with sqlite3.connect(h.root / "lib" / "broker.sqlite", timeout=10) as db:
        kept = [r[0] for r in db.execute("SELECT digest FROM web_sessions")]
    assert hashlib.sha256(cookie.encode()).hexdigest() in kept
    assert all(cookie not in k for k in kept)


# -- headers and names -------------------------------------------------------------------

def login_answer(h):
    link = urllib.parse.urlsplit(h.admin("login_url")["url"])
    status, headers, body = Page(link.port).request("GET", link.path)
    assert status == 303
    return status, headers, body


def test_every_kind_of_answer_refuses_framing(hive):
    h, dash, alice = hive
    answers = {
        "dashboard": dash.request("GET", "/"),
        "dashboard json": dash.request("GET", "/api/state"),
        "journal": dash.request("GET", "/api/journal/alice?lines=5"),
        "static": dash.request("GET", "/static/hive.css"),
        "a post": dash.request("POST", "/send", "to=alice&body=framing",
                               {"Content-Type": "application/x-www-form-urlencoded"}),
        "confirm page": dash.request("POST", "/destroy/alice", "",
                                     {"Content-Type": "application/x-www-form-urlencoded"}),
        "401": anonymous(dash).request("GET", "/"),
        "421": dash.request("GET", "/", headers={"Host": "rebound.example"}),
        "404": dash.request("GET", "/no-such-page"),
        "login link": login_answer(h),
        "agent page": alice.request("GET", "/"),
        "agent stats": alice.request("GET", "/stats"),
        "agent terminal": alice.request("GET", "/terminal"),
        "agent json": alice.request("GET", "/api/state"),
        "agent 401": anonymous(alice).request("GET", "/"),
    }
    sse = SSE(dash)
    try:
        sse.wait(lambda s: s.headers is not None, what="the stream's head")
        head = dict(line.split(": ", 1) for line in sse.headers.split("\r\n")[1:])
        answers["dashboard stream"] = (200, head, "")
    finally:
        sse.close()
    stream = Stream(alice)
    answers["terminal stream"] = (stream.res.status, dict(stream.res.getheaders()), "")
    stream.close()
    for kind, (_, headers, _) in answers.items():
        for name, value in FRAMING.items():
            assert headers.get(name) == value, (kind, name, headers)


def test_a_stopped_agents_port_says_its_harness_is_not_running(hive):
    h, _, _ = hive
    assert h.admin("spawn", name="bob")["ok"]
    bob = Page(row(h, "bob")["port"], h.cookie)
    wait_for(lambda: up(bob), 20, what="bob's page")
    assert h.admin("stop", name="bob")["ok"]
    status, headers, body = bob.request("GET", "/")
    assert status == 502 and "harness is not running" in body
    assert headers["X-Frame-Options"] == "DENY"
    status, _, body = bob.request("GET", "/api/state", headers={"Accept": "application/json"})
    assert status == 502 and json.loads(body)["code"] == "unavailable"
    # and without a session not even that: a 401
    assert anonymous(bob).request("GET", "/")[0] == 401
    assert h.admin("destroy", name="bob", purge=True)["ok"]
    with pytest.raises(ConnectionRefusedError):
        bob.request("GET", "/")


def test_a_foreign_host_name_is_refused_on_a_wildcard_bind():
    h = HostProcess(dashboard_port=free_port(), args=["--bind", "0.0.0.0"]).start()
    try:
        dash = Dash(h.dashboard_port, h.cookie)
        manager = Page(row(h, "manager")["port"], h.cookie)
        for page in (dash, manager):
            for host in ("rebound.example", f"evil.example:{page.port}", "127.0.0.1.evil.example"):
                status, _, body = page.request("GET", "/api/state", headers={"Host": host})
                assert status == 421, (page.port, host, status)
                assert '"agents"' not in body
            status, body = post_json(page, "/send", {"to": "manager", "body": "rebound"},
                                     headers={"Host": "rebound.example"})
            assert status == 421
        for host in ("127.0.0.1", f"localhost:{dash.port}", f"{socket.gethostname()}:{dash.port}"):
            assert dash.request("GET", "/api/state", headers={"Host": host})[0] == 200, host
        assert not any("rebound" in m["body"] for m in h.agent("manager", "recent")["messages"])
        assert h.admin("hello")["ok"]
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


# -- the proxy ---------------------------------------------------------------------------

class Recorder:
    """A plain HTTP server on a unix socket that keeps the raw bytes of each request."""

    def __init__(self, path):
        self.path = str(path)
        self.requests = []
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                raw = b""
                while b"\r\n\r\n" not in raw:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    raw += chunk
                head, _, body = raw.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    raw += chunk
                    body += chunk
                self.requests.append(raw)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Set-Cookie: hyperhive_session=planted; Path=/\r\n"
                             b"Content-Length: 8\r\nConnection: close\r\n\r\nrecorded")

    def close(self):
        self.sock.close()
        os.unlink(self.path)


def test_the_operators_cookie_never_reaches_the_harness(hive):
    h, _, alice = hive
    assert h.admin("stop", name="alice")["ok"]
    recorder = Recorder(h.root / "run" / "agents" / "alice" / "page.sock")
    try:
        secret = h.cookie.split("=", 1)[1]
        status, headers, body = alice.request(
            "GET", "/api/state?x=1", headers={"Authorization": "Bearer operator-secret",
                                              "Cookie": f"{h.cookie}; other=1"})
        assert status == 200 and body == "recorded"
        assert "Set-Cookie" not in headers          # a harness cannot plant a session
        status, _, body = alice.post("/api/model", {"model": "sonnet"})
        assert status == 200 and body == "recorded"
        assert len(recorder.requests) == 2
        for raw in recorder.requests:
            assert b"hyperhive_session" not in raw and secret.encode() not in raw
            assert b"operator-secret" not in raw and b"authorization" not in raw.lower()
            assert b"\r\ncookie:" not in raw.lower()
        assert recorder.requests[0].startswith(b"GET /api/state?x=1 HTTP/1.1\r\n")
        assert recorder.requests[1].endswith(b"model=sonnet")
        # the operator's own message is the host's to send: it never reaches the page socket
        reply = alice.act("/send", {"body": "from the operator, through the host"})
        assert len(recorder.requests) == 2
        assert any(m["id"] == reply["id"] and m["from"] == "operator"
                   for m in h.agent("alice", "recent")["messages"])
    finally:
        recorder.close()
        assert h.admin("start", name="alice")["ok"]
        wait_for(lambda: up(alice), 20, what="alice's page again")
    still_serving(h)


def test_a_request_body_over_one_mib_is_refused_before_the_harness(hive):
    h, _, alice = hive
    status, body = post_json(alice, "/api/model", {"model": "x" * (1 << 20)})
    assert status == 413 and json.loads(body)["code"] == "too_large"
    still_serving(h)


def test_a_stream_through_the_host_ends_when_the_browser_hangs_up(hive):
    _, _, alice = hive
    baseline = alice.state()["streams"]
    streams = [SSE(alice) for _ in range(5)]
    try:
        for sse in streams:
            sse.wait(lambda s: s.retry is not None, what="the stream's greeting")
        wait_for(lambda: alice.state()["streams"] == baseline + 5, 5, what="five streams")
    finally:
        for sse in streams:
            sse.close()
    wait_for(lambda: alice.state()["streams"] == baseline, 5,
             what="the harness's streams to end with the browser's")
