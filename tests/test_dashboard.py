"""The dashboard over real HTTP against a real host: page, POST rules, journal, SSE."""

import http.client
import json
import re
import select
import shutil
import socket
import threading
import time
import urllib.parse
import uuid

import pytest

from hive import HostProcess, clean_env, free_port, short_tmpdir, wait_for
from hyperhive import dashview, sse
from hyperhive.broker import Broker
from hyperhive.dashlive import Live, Shared
from hyperhive.names import OPERATOR
from hyperhive.paths import Places
from hyperhive.store import Store
from journald import entries

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


# -- HTTP and SSE clients ------------------------------------------------------------

class Dash:
    """HTTP to the dashboard with the operator's session cookie (`cookie=None`: without)."""

    def __init__(self, port, cookie=None):
        self.port = port
        self.cookie = cookie
        self.origin = f"http://127.0.0.1:{port}"

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = dict(headers or {})
        if self.cookie:
            headers.setdefault("Cookie", self.cookie)
        try:
            conn.request(method, path, body=body, headers=headers)
            res = conn.getresponse()
            return res.status, dict(res.getheaders()), res.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def get(self, path, **headers):
        return self.request("GET", path, headers=headers)

    def state(self):
        status, _, body = self.get("/api/state")
        assert status == 200, body
        return json.loads(body)

    def post(self, path, fields=(), as_json=False, headers=None):
        """A form POST; `fields` is a dict or a list of pairs (repeated names allowed)."""
        pairs = list(fields.items()) if isinstance(fields, dict) else list(fields)
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
        if as_json:
            hdrs["Accept"] = "application/json"
        hdrs.update(headers or {})
        status, resp_headers, body = self.request("POST", path, urllib.parse.urlencode(pairs),
                                                  hdrs)
        if as_json:
            return status, json.loads(body)
        return status, resp_headers, body

    def form(self, path, fields=()):
        """POST as a plain browser form would; returns the flash from the 303."""
        status, headers, body = self.post(path, fields)
        assert status == 303, (status, body[:300])
        query = urllib.parse.urlsplit(headers["Location"]).query
        flash = urllib.parse.parse_qs(query)
        return flash

    def act(self, path, fields=()):
        status, reply = self.post(path, fields, as_json=True)
        assert status == 200 and reply["ok"] is True, (status, reply)
        return reply


class SSE:
    """A raw-socket SSE client: one HTTP/1.1 request, then chunked frames parsed as they come.

    `dash` is the Dash (or agent Page) whose port and session cookie it uses; a `path`
    other than /events is a page's stream, whose data is html rather than JSON."""

    def __init__(self, dash, query="", last_event_id=None, rcvbuf=None, send=True,
                 path="/events"):
        port = dash.port
        self.json = path == "/events"
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.raw = b""
        self.body = b""
        self.headers = None
        self.events = []
        self.comments = []
        self.retry = None
        self.ended = False
        headers = [f"GET {path}{query} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                   "Accept: text/event-stream"]
        if last_event_id is not None:
            headers.append(f"Last-Event-ID: {last_event_id}")
        if dash.cookie:
            headers.append(f"Cookie: {dash.cookie}")
        if send:
            self.sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())

    def fileno(self):
        return self.sock.fileno()

    def feed(self, data):
        if not data:
            self.ended = True
            return
        self.raw += data
        if self.headers is None:
            if b"\r\n\r\n" not in self.raw:
                return
            head, self.raw = self.raw.split(b"\r\n\r\n", 1)
            self.headers = head.decode("latin-1")
        while True:                                    # undo chunked framing
            line_end = self.raw.find(b"\r\n")
            if line_end < 0:
                break
            size = int(self.raw[:line_end].split(b";")[0], 16)
            if len(self.raw) < line_end + 2 + size + 2:
                break
            if size == 0:
                self.ended = True
            self.body += self.raw[line_end + 2:line_end + 2 + size]
            self.raw = self.raw[line_end + 2 + size + 2:]
        while b"\n\n" in self.body:
            block, self.body = self.body.split(b"\n\n", 1)
            event = {}
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line.startswith("retry: "):
                    self.retry = int(line[len("retry: "):])
                elif line.startswith("data: ") and "data" in event:
                    event["data"] += "\n" + line[len("data: "):]
                elif ": " in line:
                    key, value = line.split(": ", 1)
                    event[key] = value
            if "event" in event:
                event["data"] = json.loads(event["data"]) if self.json else event["data"]
                event["id"] = int(event["id"]) if "id" in event else None
                self.events.append(event)

    def pump(self, timeout):
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if ready:
            self.feed(self.sock.recv(65536))

    def wait(self, predicate, timeout=10, what="events"):
        deadline = time.monotonic() + timeout
        while not predicate(self):
            left = deadline - time.monotonic()
            if left <= 0 or self.ended:
                raise AssertionError(f"no {what} after {timeout}s: {self.events[-5:]}")
            self.pump(min(left, 0.5))
        return self

    def quiet_for(self, seconds):
        """Read for `seconds`; return what arrived meanwhile."""
        before = len(self.events)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.ended:
            self.pump(max(0.0, deadline - time.monotonic()))
        return self.events[before:]

    def close(self):
        self.sock.close()


def stream_count(dash):
    return dash.state()["streams"]


# -- fixtures ---------------------------------------------------------------------------

def start_host(env=None):
    h = HostProcess(dashboard_port=free_port(), env=env).start()
    dash = Dash(h.dashboard_port, h.login())
    wait_for(lambda: _answers(dash), 10, what="the dashboard")
    return h, dash


def _answers(dash):
    try:
        return dash.get("/api/state")[0] == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def hive():
    h, dash = start_host()
    assert h.admin("spawn", name="alice")["ok"]
    yield h, dash
    h.stop()
    shutil.rmtree(h.root, ignore_errors=True)


@pytest.fixture(scope="module")
def quiet():
    """A host whose only agent is stopped: the events seen are the ones a test causes."""
    h, dash = start_host()
    assert h.admin("stop", name="manager")["ok"]
    yield h, dash
    h.stop()
    shutil.rmtree(h.root, ignore_errors=True)


# -- the page ---------------------------------------------------------------------------

def test_page_has_every_section_and_the_agents(hive):
    h, dash = hive
    status, headers, page = dash.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    for title in ("C0NTAINERS", "K3PT ST4T3", "M1ND H4S QU3STI0NS", "0PER4T0R 1NB0X",
                  "P3NDING APPR0VALS", "R3QU3ST SP4WN", "MESS4GE FL0W", "HYPERHIVE", "◆"):
        assert title in page, title
    for name in ("manager", "alice"):
        assert f'id="agent-{name}"' in page
        port = next(r["port"] for r in h.admin("status")["agent_statuses"] if r["name"] == name)
        link = re.search(rf'<a class="agent-name" href="http://127\.0\.0\.1:{port}/"[^>]*>', page)
        assert link and 'target="_blank"' in link.group(0) and 'rel="noopener"' in link.group(0)
        assert f'action="/destroy/{name}"' in page or name == "manager"
        assert f'data-journal="{name}"' in page
    assert 'action="/destroy/manager"' not in page
    assert '<link rel="stylesheet" href="/static/hive.css">' in page
    for asset in ("/static/hive.css", "/static/hive.js"):
        status, _, body = dash.get(asset)
        assert status == 200 and len(body) > 1000, asset


def test_api_state_has_every_part(hive):
    _, dash = hive
    s = dash.state()
    assert set(s) >= {"agents", "kept", "questions", "inbox", "approvals", "flow", "transients",
                      "seq", "streams"}
    assert {a["name"] for a in s["agents"]} >= {"manager", "alice"}
    assert isinstance(s["seq"], int) and s["seq"] > 0


def test_text_from_agents_is_escaped(hive):
    h, dash = hive
    assert h.agent("alice", "set_status", text=XSS)["ok"]
    assert h.agent("alice", "send", to="operator", body=XSS)["ok"]
    assert h.agent("alice", "ask", question=XSS, options=[XSS, "fine"])["ok"]
    _, _, page = dash.get("/")
    assert XSS not in page
    # status text, inbox body, flow body, question text and its option label
    assert page.count(ESCAPED) >= 5
    assert f'value="{ESCAPED}"' in page
    qid = next(q["id"] for q in h.admin("questions")["questions"] if q["question"] == XSS)
    dash.act(f"/cancel-question/{qid}")
    assert h.agent("alice", "set_status", text="")["ok"]


def test_flash_is_escaped(hive):
    _, dash = hive
    _, _, page = dash.get("/?error=" + urllib.parse.quote(XSS))
    assert XSS not in page and ESCAPED in page


# -- actions: as forms and as JSON -------------------------------------------------------

def pending_ids(h, name):
    return [a["id"] for a in h.admin("pending")["approvals"] if a["agent"] == name]


def row(h, name):
    return next((r for r in h.admin("status")["agent_statuses"] if r["name"] == name), None)


def test_request_spawn_approve_and_deny(hive):
    h, dash = hive
    flash = dash.form("/request-spawn", {"name": "bob", "description": "a helper"})
    assert "bob" in flash["ok"][0]
    [bob] = pending_ids(h, "bob")
    reply = dash.act("/request-spawn", {"name": "carl"})
    assert reply["id"] in pending_ids(h, "carl")

    dash.form(f"/deny/{bob}", {"note": "not now"})
    assert pending_ids(h, "bob") == []
    assert dash.act(f"/deny/{reply['id']}", {"note": ""})["status"] == "denied"

    again = dash.act("/request-spawn", {"name": "bob"})["id"]
    flash = dash.form(f"/approve/{again}")
    assert "approved" in flash["ok"][0]
    assert "bob" in h.admin("list")["agents"]

    dave = dash.act("/request-spawn", {"name": "dave"})["id"]
    assert dash.act(f"/approve/{dave}")["status"] == "approved"
    assert "dave" in h.admin("list")["agents"]

    # errors: a form gets them as a flash, JSON with the code and status
    flash = dash.form(f"/approve/{again}")
    assert "already" in flash["error"][0]
    status, reply = dash.post("/approve/99999", as_json=True)
    assert status == 404 and reply == {"ok": False, "error": reply["error"], "code": "not_found"}
    status, reply = dash.post("/request-spawn", {"name": "Bad Name"}, as_json=True)
    assert status == 400 and reply["code"] == "bad_args"
    status, reply = dash.post("/approve/nope", as_json=True)
    assert status == 400 and reply["code"] == "bad_args"


def test_lifecycle_buttons(hive):
    h, dash = hive
    if "bob" not in h.admin("list")["agents"]:
        assert h.admin("spawn", name="bob")["ok"]
    dash.form("/stop/bob")
    assert row(h, "bob")["running"] is False
    dash.form("/start/bob")
    assert row(h, "bob")["running"] is True
    assert dash.act("/restart/bob")["running"] is True
    assert dash.act("/rebuild/bob")["running"] is True
    assert dash.act("/stop/bob")["running"] is False
    assert dash.act("/start/bob")["running"] is True
    status, reply = dash.post("/stop/ghost", as_json=True)
    assert status == 404 and reply["code"] == "not_found"


def test_destroy_revive_and_purge_ask_first(hive):
    h, dash = hive
    if "bob" not in h.admin("list")["agents"]:
        assert h.admin("spawn", name="bob")["ok"]
    # without JavaScript the first POST only asks
    status, _, page = dash.post("/destroy/bob")
    assert status == 200 and 'name="confirm" value="yes"' in page and "bob" in page
    assert "bob" in h.admin("list")["agents"]
    status, reply = dash.post("/destroy/bob", as_json=True)
    assert status == 400 and reply["code"] == "bad_args"
    assert "bob" in h.admin("list")["agents"]

    flash = dash.form("/destroy/bob", {"confirm": "yes"})
    assert "kept" in flash["ok"][0]
    assert "bob" not in h.admin("list")["agents"]
    assert "bob" in [k["name"] for k in dash.state()["kept"]]
    assert 'id="kept-bob"' in dash.get("/")[2]

    dash.form("/revive/bob")
    assert "bob" in h.admin("list")["agents"]
    assert dash.act("/destroy/bob", {"confirm": "yes"})["purged"] is False

    status, _, page = dash.post("/purge/bob")
    assert status == 200 and 'action="/purge/bob"' in page
    assert "bob" in [k["name"] for k in dash.state()["kept"]]
    assert dash.act("/purge/bob", {"confirm": "yes"})["purged"] is True
    assert "bob" not in [k["name"] for k in dash.state()["kept"]]

    assert h.admin("spawn", name="fred")["ok"]
    flash = dash.form("/destroy/fred", {"confirm": "yes", "purge": "yes"})
    assert "purged" in flash["ok"][0]
    assert "fred" not in [k["name"] for k in dash.state()["kept"]]
    status, reply = dash.post("/destroy/manager", {"confirm": "yes"}, as_json=True)
    assert status == 403 and reply["code"] == "forbidden"


def answered(dash, qid):
    """The answer of question `qid`, read from the system message to the asker."""
    for m in dash.state()["flow"]:
        if m["from"] == "system" and m["body"].startswith("{"):
            body = json.loads(m["body"])
            if body.get("event") == "question_answered" and body.get("id") == qid:
                return body["answer"]
    return None


def test_answer_and_cancel_questions(hive):
    h, dash = hive
    multi = h.agent("alice", "ask", question="which?", options=["red", "green", "blue"],
                    multi=True)["id"]
    flash = dash.form(f"/answer/{multi}", [("option", "red"), ("option", "blue"), ("answer", "")])
    assert f"#{multi}" in flash["ok"][0]
    assert answered(dash, multi) == "red, blue"

    free = h.agent("alice", "ask", question="name it", options=["x"])["id"]
    assert dash.act(f"/answer/{free}", [("option", "x"), ("answer", "  my own  ")])
    assert answered(dash, free) == "my own"

    empty = h.agent("alice", "ask", question="anything?")["id"]
    status, reply = dash.post(f"/answer/{empty}", {"answer": " "}, as_json=True)
    assert status == 400 and reply["code"] == "bad_args"
    dash.form(f"/cancel-question/{empty}")
    assert answered(dash, empty) == "[cancelled]"
    assert all(q["id"] != empty for q in h.admin("questions")["questions"])
    status, reply = dash.post(f"/cancel-question/{empty}", as_json=True)
    assert status == 404


def question_rows(page):
    return {int(i) for i in re.findall(r'<li class="question[^"]*" id="q-(\d+)"', page)}


def chips(page):
    """{key: (is current, count)} for the question chips on a page."""
    found = re.findall(r'<a class="badge chip( is-current)?" href="/\?q=(\w+)#questions"'
                       r'[^>]*>[^<]*<span class="chip-count" id="questions-count-\2">(\d+)<', page)
    return {key: (bool(current), int(n)) for current, key, n in found}


def test_question_chips_filter_on_the_server(hive):
    h, dash = hive
    mine = h.agent("alice", "ask", question="for the operator")["id"]
    peer = h.agent("alice", "ask", question="for the manager", to="manager")["id"]
    try:
        open_qs = h.admin("questions")["questions"]
        to_me = {q["id"] for q in open_qs if q["target"] is None}
        to_peers = {q["id"] for q in open_qs if q["target"] is not None}
        assert mine in to_me and peer in to_peers
        counts = {"all": len(open_qs), "operator": len(to_me), "peer": len(to_peers)}

        for q, rows in (("operator", to_me), ("peer", to_peers)):
            _, _, page = dash.get(f"/?q={q}")
            assert question_rows(page) == rows, q
            assert chips(page) == {k: (k == q, n) for k, n in counts.items()}
            assert f'data-filter="{q}"' in page
        _, _, page = dash.get("/?q=peer")
        assert "for the manager" in page and "for the operator" not in page

        # anything else is all, and is never echoed into the page
        for q in ("bogus", "", "all", "OPERATOR", urllib.parse.quote(XSS)):
            _, _, page = dash.get(f"/?q={q}")
            assert question_rows(page) == to_me | to_peers, q
            assert chips(page) == {k: (k == "all", n) for k, n in counts.items()}, q
            assert XSS not in page and "bogus" not in page
        _, _, page = dash.get("/")
        assert question_rows(page) == to_me | to_peers
        # the notify toggle needs JavaScript, so the page leaves it to hive.js to show
        assert re.search(r'<button [^>]*id="notify"[^>]*\shidden>', page)
    finally:
        for qid in (mine, peer):
            h.admin("cancel_question", id=qid)


def test_send_from_the_composer(hive):
    _, dash = hive
    flash = dash.form("/send", {"to": "alice", "body": "hello from the form"})
    assert "alice" in flash["ok"][0]
    reply = dash.act("/send", {"to": "", "body": "@alice via at-name"})
    assert reply["to"] == "alice"
    reply = dash.act("/send", {"to": "manager", "body": "@alice the at wins\nsecond line"})
    flow = {m["id"]: m for m in dash.state()["flow"]}
    assert flow[reply["id"]]["to"] == "alice"
    assert flow[reply["id"]]["body"] == "the at wins\nsecond line"
    assert flow[reply["id"]]["from"] == "operator"
    threaded = dash.act("/send", {"to": "alice", "body": "re", "in_reply_to": str(reply["id"])})
    assert {m["id"]: m for m in dash.state()["flow"]}[threaded["id"]]["in_reply_to"] == reply["id"]
    status, reply = dash.post("/send", {"to": "ghost", "body": "x"}, as_json=True)
    assert status == 404 and reply["code"] == "not_found"
    status, reply = dash.post("/send", {"body": "nobody"}, as_json=True)
    assert status == 400 and reply["code"] == "bad_args"
    flash = dash.form("/send", {"to": "alice", "body": ""})
    assert "empty" in flash["error"][0]


def test_inbox_shows_replies_threaded(hive):
    h, dash = hive
    first = dash.act("/send", {"to": "alice", "body": "question for you"})["id"]
    assert h.agent("alice", "send", to="operator", body="an answer", in_reply_to=first)["ok"]
    _, _, page = dash.get("/")
    assert f"↳ #{first}" in page
    inbox = dash.state()["inbox"]
    assert any(m["body"] == "an answer" and m["in_reply_to"] == first for m in inbox)


# -- POST rules ------------------------------------------------------------------------------

def test_cross_site_posts_are_refused(hive):
    h, dash = hive
    before = len(h.admin("pending")["approvals"])
    for headers in ({"Origin": "http://evil.example"},
                    {"Origin": f"http://127.0.0.1:{dash.port + 1}"},
                    {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"},
                    {"Origin": dash.origin, "Sec-Fetch-Site": "cross-site"}):
        status, _, body = dash.post("/request-spawn", {"name": "evil"}, headers=headers)
        assert status == 403, headers
        assert json.loads(body)["code"] == "forbidden"
    assert len(h.admin("pending")["approvals"]) == before
    # the browser's own same-origin posts go through
    ok = dash.act("/send", {"to": "alice", "body": "same origin"})
    assert ok["ok"]
    status, reply = dash.post("/send", {"to": "alice", "body": "x"}, as_json=True,
                              headers={"Origin": dash.origin, "Sec-Fetch-Site": "same-origin"})
    assert status == 200 and reply["ok"]
    status, reply = dash.post("/send", {"to": "alice", "body": "typed url"}, as_json=True,
                              headers={"Sec-Fetch-Site": "none"})
    assert status == 200


def test_foreign_host_header_is_refused(hive):
    _, dash = hive
    status, _, _ = dash.get("/api/state", Host="rebound.example:7000")
    assert status == 421
    assert dash.get("/api/state", Host=f"localhost:{dash.port}")[0] == 200


def test_bodies_over_one_mib_are_refused(hive):
    _, dash = hive
    big = urllib.parse.urlencode({"to": "alice", "body": "x" * (1 << 20)})
    status, _, body = dash.request("POST", "/send", big, {
        "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
    assert status == 413 and json.loads(body)["code"] == "too_large"
    status, _, _ = dash.request("POST", "/send", big, {
        "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 413


# -- the journal -------------------------------------------------------------------------------

def test_journal_checks_the_name(hive):
    _, dash = hive
    for path, want in (("/api/journal/..%2F..", 400), ("/api/journal/..%2F..%2Fetc%2Fpasswd", 400),
                       ("/api/journal/A", 400), ("/api/journal/%00", 400),
                       ("/api/journal/manager%20x", 400), ("/api/journal/ghost", 404),
                       ("/api/journal/manager?lines=abc", 400)):
        status, _, _ = dash.get(path)
        assert status == want, path
    status, headers, _ = dash.get("/api/journal/manager?lines=10")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert dash.get("/api/journal/alice?lines=999999")[0] == 200


def test_journal_shows_the_agents_own_records(hive, journald):
    from systemd import journal as sd_journal
    _, dash = hive
    mark = uuid.uuid4().hex
    sd_journal.send(f"for bob {mark}", SYSLOG_IDENTIFIER="hyperhive", HIVE_AGENT="bob")
    sd_journal.send(f"for alice\nsecond line {mark}", SYSLOG_IDENTIFIER="hyperhive",
                    HIVE_AGENT="alice")
    entries("HIVE_AGENT=alice", f"MESSAGE=for alice\nsecond line {mark}")
    status, _, body = dash.get("/api/journal/alice?lines=2")
    first, second = body.splitlines()[-2:]
    assert status == 200 and first.endswith(": for alice")
    assert second.strip() == f"second line {mark}" and "bob" not in body


def test_a_journal_that_cannot_be_read_is_a_line_saying_why():
    tmp = short_tmpdir()
    h, dash = start_host(clean_env(HYPERHIVE_JOURNAL_DIR=tmp / "missing"))
    try:
        status, _, body = dash.get("/api/journal/manager")
        assert status == 200
        assert body == (f"hyperhive: cannot open the journal in {tmp}/missing: "
                                 "No such file or directory\n")
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


# -- SSE ---------------------------------------------------------------------------------------

def test_events_stream_headers_and_frames(quiet):
    h, dash = quiet
    sse = SSE(dash)
    try:
        sse.wait(lambda s: s.retry is not None, what="the stream's greeting")
        assert sse.retry > 0 and sse.comments
        assert "200" in sse.headers.splitlines()[0]
        assert "content-type: text/event-stream" in sse.headers.lower()
        assert "cache-control: no-cache" in sse.headers.lower()
        sent = h.admin("send", to="manager", body="hello stream")["id"]
        sse.wait(lambda s: any(e["event"] == "sent" for e in s.events))
        event = next(e for e in sse.events if e["event"] == "sent")
        assert event["data"]["id"] == sent and event["data"]["body"] == "hello stream"
        assert event["data"]["seq"] == event["id"] and event["data"]["sender"] == "operator"
    finally:
        sse.close()


def test_last_event_id_replays_exactly_what_was_missed(quiet):
    h, dash = quiet
    first = SSE(dash)
    h.admin("send", to="manager", body="before")
    first.wait(lambda s: s.events)
    last = first.events[-1]["id"]
    first.close()

    ids = [h.admin("send", to="manager", body=f"missed {i}")["id"] for i in range(3)]

    again = SSE(dash, last_event_id=last)
    try:
        again.wait(lambda s: len(s.events) >= 3)
        extra = again.quiet_for(0.5)
        assert extra == []
        assert [e["event"] for e in again.events] == ["sent"] * 3
        assert [e["data"]["id"] for e in again.events] == ids
        assert [e["id"] for e in again.events] == [last + 1, last + 2, last + 3]
        # and live events follow the replay without a gap or a repeat
        live = h.admin("send", to="manager", body="live")["id"]
        again.wait(lambda s: len(s.events) >= 4)
        assert again.events[3]["data"]["id"] == live and again.events[3]["id"] == last + 4
    finally:
        again.close()
    # the query parameter works the same, for manual tests
    manual = SSE(dash, query=f"?last_event_id={last}")
    try:
        manual.wait(lambda s: len(s.events) >= 4)
        assert [e["id"] for e in manual.events] == [last + 1, last + 2, last + 3, last + 4]
    finally:
        manual.close()


def test_kinds_filter(quiet):
    h, dash = quiet
    base = dash.state()["seq"]
    sse = SSE(dash, query="?kinds=question_added,question_resolved")
    try:
        sse.wait(lambda s: s.headers is not None, what="headers")
        h.admin("send", to="manager", body="not a question")
        qid = h.agent("manager", "ask", question="filtered?")["id"]
        h.admin("answer", id=qid, answer="yes")
        sse.wait(lambda s: len(s.events) >= 2)
        assert [e["event"] for e in sse.events] == ["question_added", "question_resolved"]
        assert sse.quiet_for(0.3) == []
    finally:
        sse.close()
    replay = SSE(dash, query="?kinds=question_resolved", last_event_id=base)
    try:
        replay.wait(lambda s: s.events)
        assert [e["event"] for e in replay.events] == ["question_resolved"]
    finally:
        replay.close()


def test_two_hundred_streams_all_get_the_event(quiet):
    h, dash = quiet
    wait_for(lambda: stream_count(dash) == 0, 10, what="earlier streams released")
    base = 0
    streams = [SSE(dash) for _ in range(200)]
    try:
        by_fd = {s.fileno(): s for s in streams}

        def pump_all(done, timeout):
            deadline = time.monotonic() + timeout
            while not all(done(s) for s in streams):
                left = deadline - time.monotonic()
                assert left > 0, f"{sum(map(done, streams))}/200 streams got there"
                ready, _, _ = select.select([s for s in streams if not done(s)], [], [],
                                            min(left, 0.5))
                for sock in ready:
                    by_fd[sock.fileno()].feed(sock.sock.recv(65536))

        pump_all(lambda s: s.headers is not None and not s.ended, 20)
        wait_for(lambda: stream_count(dash) == base + 200, 10, what="200 open streams")
        sent_at = time.monotonic()
        msg = h.admin("send", to="manager", body="to everyone watching")["id"]
        pump_all(lambda s: any(e["data"].get("id") == msg for e in s.events), 10)
        took = time.monotonic() - sent_at
        assert took < 5, took
    finally:
        for s in streams:
            s.close()
    # hang-ups are noticed at once, not at the next write
    wait_for(lambda: stream_count(dash) == base, 10, what="streams released")


def test_a_client_that_stops_reading_does_not_hold_up_others(quiet):
    h, dash = quiet
    wait_for(lambda: stream_count(dash) == 0, 10, what="earlier streams released")
    base = 0
    stuck = SSE(dash, rcvbuf=1024)
    reader = SSE(dash)
    got = []
    done = threading.Event()

    def read():
        """Read everything; if the server cuts the stream, reconnect from the last id."""
        client = reader
        while not done.is_set():
            client.pump(0.2)
            got.extend(client.events)
            last = client.events[-1]["id"] if client.events else None
            client.events.clear()
            if client.ended:
                client.close()
                client = SSE(dash, last_event_id=last)
        client.close()

    thread = threading.Thread(target=read, daemon=True)
    try:
        reader.wait(lambda s: s.headers is not None, what="headers")
        wait_for(lambda: stream_count(dash) == base + 2, 10, what="both streams open")
        thread.start()
        body = "y" * 1500

        def producer(n, out):
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(h.sock))
                f = s.makefile("rb")
                for _ in range(n):
                    s.sendall((json.dumps({"cmd": "send", "to": "manager", "body": body})
                               + "\n").encode())
                    reply = json.loads(f.readline())
                    assert reply["ok"], reply
                    out.append(reply["id"])
        ids = []
        producers = [threading.Thread(target=producer, args=(250, ids)) for _ in range(8)]
        for p in producers:
            p.start()
        for p in producers:
            p.join(60)
        finished = time.monotonic()
        assert len(ids) == 2000
        last = max(ids)
        wait_for(lambda: any(e["data"].get("id") == last for e in list(got)), 10,
                 what="the last event at the reading client")
        assert time.monotonic() - finished < 3
        seen = [e["data"]["id"] for e in got if e["event"] == "sent"]
        assert sorted(set(seen) & set(ids)) == sorted(ids)
        started = time.monotonic()
        dash.state()
        assert time.monotonic() - started < 1
    finally:
        done.set()
        thread.join(10)
        stuck.close()
    wait_for(lambda: stream_count(dash) == base, 10, what="both streams released")


def test_an_id_from_the_future_starts_afresh(quiet):
    h, dash = quiet
    sse = SSE(dash, last_event_id=dash.state()["seq"] + 10_000)
    try:
        sse.wait(lambda s: s.retry is not None, what="the greeting")
        sent = h.admin("send", to="manager", body="after a reset")["id"]
        sse.wait(lambda s: any(e["data"].get("id") == sent for e in s.events))
    finally:
        sse.close()


def test_keepalive_comments_keep_an_idle_stream_open():
    h = HostProcess(dashboard_port=free_port(),
                    env=clean_env(HYPERHIVE_SSE_KEEPALIVE="0.2")).start()
    try:
        dash = Dash(h.dashboard_port, h.login())
        wait_for(lambda: _answers(dash), 10, what="the dashboard")
        sse = SSE(dash)
        try:
            sse.wait(lambda s: s.comments.count("keepalive") >= 3, timeout=5,
                     what="keepalive comments")
            assert not sse.ended
        finally:
            sse.close()
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


def test_the_page_stream_opens_with_the_lists_then_sends_fragments_and_ticks(quiet):
    h, dash = quiet
    qid = h.agent("manager", "ask", question="tick tock", ttl_seconds=600)["id"]
    page = SSE(dash, path="/events/page", last_event_id=1)
    try:
        page.wait(lambda s: any(e["event"] == "flow" for e in s.events), what="the hello")
        hello = {e["event"]: e for e in page.events}
        assert list(hello) == ["agents", "kept", "drafts", "questions", "approvals",
                               "reminders", "failed", "budgets", "inbox", "flow", "oob"]
        # the hello stands for the seq it was read at, whatever the browser's last id was
        assert hello["oob"]["id"] == dash.state()["seq"]
        assert f'id="q-{qid}"' in hello["questions"]["data"]
        page.wait(lambda s: any(e["event"] == "tick" for e in s.events), timeout=5,
                  what="a tick")
        tick = next(e for e in page.events if e["event"] == "tick")
        assert f'<span id="q-{qid}-ttl" hx-swap-oob="true">' in tick["data"]
        sent = h.admin("send", to="manager", body="line one\nline two")["id"]
        page.wait(lambda s: any(f"flow-{sent}" in e["data"] for e in s.events))
        row = next(e for e in page.events if f"flow-{sent}" in e["data"])
        assert row["event"] == "oob" and "line one" in row["data"]
    finally:
        page.close()
        h.admin("cancel_question", id=qid)


def test_system_events_in_the_flow_read_as_their_name_and_fields(hive):
    h, dash = hive
    aid = h.admin("request_spawn", name="evt")["id"]
    assert h.admin("deny", id=aid, note=XSS)["ok"]
    _, _, page = dash.get("/")
    row = re.search(r'<li class="flow-row[^"]*" id="flow-\d+"[^>]*>(?:(?!</li>).)*approval_resolved'
                    r'(?:(?!</li>).)*</li>', page, re.S).group(0)
    assert '<b class="event">approval_resolved</b>' in row
    assert "agent evt · kind spawn · status denied · note " + ESCAPED in row
    assert XSS not in page


def test_a_session_outlives_a_host_restart_and_ctl_prints_a_link():
    h, dash = start_host()
    try:
        printed = h.ctl("login-url")
        assert printed.returncode == 0
        assert re.fullmatch(rf"http://127\.0\.0\.1:{h.dashboard_port}/login/[\w-]{{40,}}\n",
                            printed.stdout)
        raw = json.loads(h.ctl("--json", "login-url").stdout)
        assert raw["ok"] and raw["expires_in"] == 600 and raw["url"] != printed.stdout.strip()
        h.stop()
        h.start()
        wait_for(lambda: _answers(dash), 10, what="the dashboard after the restart")
        assert dash.get("/api/state")[0] == 200
        assert Dash(dash.port).get("/api/state")[0] == 401
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


# -- the page's fragments, rendered in-process -------------------------------------------------

class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


@pytest.fixture
def broker(tmp_path):
    """A broker on a real sqlite file, on a clock the test moves (the page's clock too)."""
    places = Places.from_root(tmp_path)
    places.ensure()
    store = Store(places.db)
    b = Broker(store, places, clock=Clock())
    b.agents.register("alice")
    yield b
    b.stop()
    store.close()


def live_page(broker):
    """A page's stream state after its hello, and the seq the hello stands for."""
    live = Live(broker, "127.0.0.1", clock=broker.clock)
    seq = broker.last_seq()
    return live, dict(live.hello()), seq


def rendered(broker, live, since):
    """Every event after `since`, rendered: [(kind, {target: html})]."""
    return [(e["kind"], dict(live.render(e))) for e in broker.events_after(since)]


def test_the_hello_renders_every_list_from_the_same_templates_as_the_page(broker):
    broker.messages.send("alice", OPERATOR, XSS)
    broker.questions.ask("alice", "for you?")
    _, hello, _ = live_page(broker)
    assert set(hello) == {"agents", "kept", "drafts", "questions", "approvals", "reminders",
                          "failed", "budgets", "inbox", "flow", "oob"}
    assert 'id="agent-alice"' in hello["agents"]
    assert '<option value="alice">@alice</option>' in hello["agents"]      # the composer's
    assert 'id="agents-count" hx-swap-oob="true">1<' in hello["agents"]
    assert XSS not in hello["inbox"] and ESCAPED in hello["inbox"] and ESCAPED in hello["flow"]
    assert 'id="inbox-count" hx-swap-oob="true">1<' in hello["inbox"]
    assert 'id="disk-full" hidden hx-swap-oob="true"' in hello["oob"]
    # what the operator types or opens lives in elements a swap keeps
    assert re.search(r'<form [^>]*id="q-\d+-answer" hx-preserve', hello["questions"])
    assert re.search(r'<details class="journal" id="agent-alice-journal" hx-preserve',
                     hello["agents"])
    assert re.search(r'<details class="reply" id="inbox-\d+-reply" hx-preserve', hello["inbox"])
    assert "is-new" not in "".join(hello.values())


def test_a_message_is_one_row_on_top_once_and_its_marks_follow(broker):
    live, _, seq = live_page(broker)
    to_alice = broker.messages.send(OPERATOR, "alice", "hi alice")["id"]
    to_me = broker.messages.send("alice", OPERATOR, "hi operator")["id"]
    events = rendered(broker, live, seq)
    assert [kind for kind, _ in events] == ["sent", "sent"]
    first, second = (frags for _, frags in events)
    assert first["oob"].startswith('<div hx-swap-oob="afterbegin:#flow-list"><li class="flow-row '
                                   f'is-new" id="flow-{to_alice}"')
    assert "inbox-list" not in first["oob"] and "notify" not in first
    assert "✉ 1 unread" in first["agents"]          # the recipient's row is read again
    assert f'afterbegin:#inbox-list"><li class="msg is-new" id="inbox-{to_me}"' in second["oob"]
    assert 'id="inbox-count" hx-swap-oob="true">1<' in second["oob"]
    assert second["notify"] == (f'<p data-tag="message-{to_me}" data-title="message from alice" '
                                f'data-body="hi operator" data-row="inbox-{to_me}"></p>')
    # a row already in the hello (the page reads its lists after their seq) is not added again
    again = Live(broker, "127.0.0.1")
    again.hello()
    assert "oob" not in dict(again.render(broker.events_after(seq)[0]))

    seq = broker.last_seq()
    taken = broker.messages.recv("alice", max=10)["messages"]
    broker.messages.ack("alice", [m["id"] for m in taken])
    (_, delivered), (_, acked) = rendered(broker, live, seq)
    assert f'<span class="mark is-delivered" id="mark-{to_alice}"' in delivered["oob"]
    assert "✉" not in delivered["agents"]
    assert f'<span class="mark is-delivered is-acked" id="mark-{to_alice}"' in acked["oob"]
    assert 'hx-swap-oob="true">✓✓</span>' in acked["oob"]


def test_the_flow_keeps_its_length_by_dropping_the_oldest_row(broker):
    first = broker.messages.send(OPERATOR, "alice", "the oldest")["id"]
    for n in range(dashview.FLOW_LIMIT - 1):
        broker.messages.send(OPERATOR, "alice", f"filler {n}")
    live, hello, seq = live_page(broker)
    assert hello["flow"].count('<li class="flow-row') == dashview.FLOW_LIMIT
    broker.messages.send(OPERATOR, "alice", "one more")
    [(_, frags)] = rendered(broker, live, seq)
    assert frags["oob"].endswith(f'<li id="flow-{first}" hx-swap-oob="delete"></li>')


def test_questions_render_whole_and_only_the_operators_call_for_a_notification(broker):
    broker.agents.register("bob")
    live, _, seq = live_page(broker)
    mine = broker.questions.ask("alice", "left or right?", options=["left", XSS], ttl_seconds=90)["id"]
    [(_, asked)] = [e for e in rendered(broker, live, seq) if e[0] == "question_added"]
    seq = broker.last_seq()
    peer = broker.questions.ask("alice", "bob, a word", to="bob")["id"]
    [(_, asked_peer)] = [e for e in rendered(broker, live, seq) if e[0] == "question_added"]
    assert asked["notify"] == (f'<p data-tag="question-{mine}" data-title="question from alice" '
                               f'data-body="left or right?" data-row="q-{mine}"></p>')
    assert "notify" not in asked_peer
    # live, the list holds every question (the chips only hide rows in the browser)
    rows = re.findall(r'<li class="question([^"]*)" id="q-(\d+)"', asked_peer["questions"])
    assert rows == [("", str(mine)), (" is-peer is-new", str(peer))]
    assert f'value="{ESCAPED}"' in asked_peer["questions"]
    for key, n in (("all", 2), ("operator", 1), ("peer", 1)):
        assert f'id="questions-count-{key}" hx-swap-oob="true">{n}<' in asked_peer["questions"]
    assert f'⏳ <span id="q-{mine}-ttl">1m 30s</span>' in asked_peer["questions"]


def test_the_operators_own_approvals_call_for_no_notification(broker):
    live, _, seq = live_page(broker)
    broker.approvals.request_spawn(OPERATOR, "gina", "checks the docs")
    aid = broker.approvals.request_spawn("alice", "hank", "reads the logs")["id"]
    events = rendered(broker, live, seq)
    assert [("notify" in frags) for _, frags in events] == [False, True]
    assert events[1][1]["notify"] == (f'<p data-tag="approval-{aid}" data-title="approval #{aid}: '
                                      f'spawn hank" data-body="reads the logs" '
                                      f'data-row="approval-{aid}"></p>')
    assert 'id="approvals-count" hx-swap-oob="true">2<' in events[1][1]["approvals"]


def test_ages_and_countdowns_tick_as_the_clock_moves_and_only_when_their_text_does(broker):
    qid = broker.questions.ask("alice", "soon?", ttl_seconds=65)["id"]
    live, hello, _ = live_page(broker)
    assert f'<span id="q-{qid}-age">0s</span>' in hello["questions"]
    assert live.tick() == []
    live.clock.now += 2
    assert live.tick() == [("tick", f'<span id="q-{qid}-age" hx-swap-oob="true">2s</span>'
                                    f'<span id="q-{qid}-ttl" hx-swap-oob="true">1m 03s</span>')]
    assert live.tick() == []
    live.clock.now += 70
    [(_, html)] = live.tick()
    assert ">1m</span>" in html and ">expired</span>" in html
    # a row that is gone stops ticking
    seq = broker.last_seq()
    broker.questions.cancel(OPERATOR, qid)
    rendered(broker, live, seq)
    live.clock.now += 60
    assert live.tick() == []


def test_open_pages_read_and_render_an_event_once_between_them(broker):
    shared = Shared(broker)
    pages = [Live(broker, "127.0.0.1", clock=broker.clock, shared=shared) for _ in range(3)]
    for page in pages:
        page.hello()
    seq = broker.last_seq()
    statements = []
    broker.store._conn.set_trace_callback(statements.append)
    broker.messages.send("alice", OPERATOR, "to every page")
    statements.clear()
    broker.status_rows()
    one_read = list(statements)
    statements.clear()
    (event,) = broker.events_after(seq)
    first, *others = (dict(page.render(event)) for page in pages)
    broker.store._conn.set_trace_callback(None)
    # one read of the agents (their unread counts) for the three pages, one markup each
    assert [sql for sql in statements if "GROUP BY" in sql] == \
        [sql for sql in one_read if "GROUP BY" in sql]
    assert all(other["agents"] is first["agents"] and other["oob"] == first["oob"]
               for other in others)
    # the inbox row they share ticks on every page
    for page in pages:
        page.clock.now += 3
        assert any("3s</span>" in html for _, html in page.tick())
        page.clock.now -= 3


def test_a_full_disk_shows_its_banner_live(broker):
    live, _, _ = live_page(broker)
    [(target, html)] = live.render({"seq": None, "kind": "disk_changed", "at": time.time(),
                                    "data": {"full": True, "since": time.time()}})
    assert target == "oob" and html.startswith('<p class="banner warn" id="disk-full" '
                                               'hx-swap-oob="true">')


def test_a_carriage_return_cannot_split_a_fragment_frame():
    frames = sse.fragment_frames(7, [("inbox", "<pre>a\r\nevent: x\rid: 99</pre>")]).decode()
    assert frames == "id: 7\nevent: inbox\ndata: <pre>a&#13;\ndata: event: x&#13;id: 99</pre>\n\n"
