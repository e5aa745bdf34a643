"""The agent's own page over real HTTP, served by real harnesses under a real host.

claude is the real CLI on the scripted API (tests/anthropic_stub.py), as in test_e2e;
the login flow runs tests/data/fake_login.sh in place of `claude auth login`.
"""

import http.client
import json
import os
import re
import shutil
import socket
import sqlite3
import time
import urllib.parse
from pathlib import Path

import pytest

from anthropic_stub import Stub, claude_env, find_claude
from hive import HostProcess, short_tmpdir, wait_for
from hyperhive.turnstats import TurnStats
from test_e2e import row, spawn, start_hive, stats_rows

# turn_stats as harnesses before inbox_depth, sends_json and notes_bytes wrote it
OLD_TURN_STATS = """
CREATE TABLE "turn_stats" ("id" INTEGER NOT NULL PRIMARY KEY, "started_at" REAL NOT NULL,
  "ended_at" REAL NOT NULL, "duration_ms" INTEGER NOT NULL, "model" TEXT, "wake_from" TEXT,
  "result_kind" TEXT NOT NULL, "note" TEXT, "input_tokens" INTEGER NOT NULL,
  "output_tokens" INTEGER NOT NULL, "cache_read_input_tokens" INTEGER NOT NULL,
  "cache_creation_input_tokens" INTEGER NOT NULL, "cost_usd" REAL NOT NULL,
  "tool_call_count" INTEGER NOT NULL, "tool_calls_json" TEXT NOT NULL,
  "open_threads_count" INTEGER, "open_reminders_count" INTEGER, "session_id" TEXT,
  "session_cost_usd" REAL);
CREATE INDEX "turnstat_started_at" ON "turn_stats" ("started_at");
INSERT INTO turn_stats VALUES (1, 1000.0, 1002.0, 2000, 'haiku', 'operator', 'ok', NULL,
  10, 5, 0, 0, 0.001, 1, '{"Read": 1}', 0, 0, 's1', 0.001);
"""
NEW_COLUMNS = {"inbox_depth", "sends_json", "notes_bytes", "messages_taken"}
XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
FAKE_LOGIN = Path(__file__).resolve().parent / "data" / "fake_login.sh"
LOGIN_URL = "https://example.invalid/oauth?code=abc"


class Page:
    """HTTP to one agent page on 127.0.0.1, with the operator's session cookie
    (`cookie=None`: without)."""

    def __init__(self, port, cookie=None):
        self.port = port
        self.cookie = cookie

    def request(self, method, path, body=None, headers=None, timeout=60):
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

    def get(self, path):
        status, _, body = self.request("GET", path)
        return status, body

    def html(self, path="/"):
        status, body = self.get(path)
        assert status == 200, (status, body[:300])
        return body

    def state(self):
        status, body = self.get("/api/state")
        assert status == 200, body
        return json.loads(body)

    def post(self, path, fields=None, as_json=False, headers=None):
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
        if as_json:
            hdrs["Accept"] = "application/json"
        hdrs.update(headers or {})
        status, resp_headers, body = self.request(
            "POST", path, urllib.parse.urlencode(fields or {}), hdrs)
        return status, resp_headers, (json.loads(body) if as_json else body)

    def form(self, path, fields=None):
        """As a plain browser form: the 303 and its flash."""
        status, headers, body = self.post(path, fields)
        assert status == 303, (status, body[:300])
        location = headers["Location"]
        return location, urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)

    def act(self, path, fields=None, expect=200):
        status, _, reply = self.post(path, fields, as_json=True)
        assert status == expect, (status, reply)
        return reply


def section(html, marker):
    """The markup from `marker` to the end of its element (enough for these checks)."""
    start = html.index(marker)
    return html[start:html.index("</li>" if "<li" in marker else "</section>", start)]


def columns(path):
    with sqlite3.connect(path) as db:
        return {r[1] for r in db.execute("PRAGMA table_info(turn_stats)")}


def test_an_old_turn_stats_file_gains_the_new_columns(tmp_path):
    path = tmp_path / "hyperhive-turn-stats.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_TURN_STATS)
    assert not NEW_COLUMNS & columns(path)
    stats = TurnStats(path)
    assert NEW_COLUMNS <= columns(path)
    assert stats.record(started_at=1010.0, ended_at=1011.0, duration_ms=1000, result_kind="ok",
                        tool_calls={"mcp__hyperhive__send": 3}, tool_call_count=3,
                        inbox_depth=2, sends={"peer": 2, "operator": 1}, notes_bytes=812)
    stats.db.close()
    again = TurnStats(path)           # a second open finds nothing to add
    assert again.last_turn()["inbox_depth"] == 2
    again.db.close()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT id, inbox_depth, sends_json, notes_bytes, tool_calls_json "
                          "FROM turn_stats ORDER BY id").fetchall()
    assert rows == [(1, None, None, None, '{"Read": 1}'),
                    (2, 2, '{"operator": 1, "peer": 2}', 812, '{"mcp__hyperhive__send": 3}')]


def test_summary_of_inbox_sends_and_notes_per_bucket(tmp_path):
    stats = TurnStats(tmp_path / "stats.sqlite")
    now = 1_800_000_000.0
    start = (now - 3600) // 300 * 300
    turns = [  # bucket, seconds into it, inbox depth, sends, notes bytes
        (2, 10, 3, {"operator": 1}, 100), (2, 20, 5, {"peer": 2}, 300),
        (2, 30, 1, {}, 200), (5, 0, None, {"broadcast": 1, "manager": 1}, None)]
    for bucket, offset, depth, sends, notes_bytes in turns:
        at = start + bucket * 300 + offset
        stats.record(started_at=at, ended_at=at + 1, duration_ms=1000, result_kind="ok",
                     inbox_depth=depth, sends=sends, notes_bytes=notes_bytes)
    s = stats.summary("1h", now=now)
    series = s["series"]
    assert series["inbox_max"][2] == 5 and series["inbox_last"][2] == 1
    assert series["notes_bytes"][2] == 200 and series["notes_bytes"][5] is None
    assert series["inbox_max"][5] is None and series["inbox_max"][3] is None
    assert (series["sends_operator"][2], series["sends_peer"][2]) == (1, 2)
    assert (series["sends_broadcast"][5], series["sends_manager"][5]) == (1, 1)
    assert s["sends"] == {"peer": 2, "operator": 1, "manager": 1, "broadcast": 1}
    # "current" is the newest turn's: it had no depth and no notes file
    assert s["inbox_depth"] is None and s["notes_bytes"] is None
    stats.db.close()


@pytest.fixture(scope="module")
def stub():
    with Stub() as s:
        yield s


@pytest.fixture(scope="module")
def hive(stub):
    h = start_hive(stub)
    try:
        spawn(h, "alice")
        yield h
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


@pytest.fixture(scope="module")
def alice(hive):
    return Page(row(hive, "alice")["port"], hive.cookie)


@pytest.fixture(scope="module")
def turned(hive, stub, alice):
    """One real turn, woken by a message from the page's own form."""
    stub.add_rule(r"alert\(1\)", agent="alice", steps=[
        {"text": "Looking at it.", "tool": "mcp__hyperhive__send",
         "input": {"to": "operator", "body": "got <b>it</b>"},
         "usage": {"input_tokens": 1200, "output_tokens": 80, "cache_read_input_tokens": 30000,
                   "cache_creation_input_tokens": 500}},
        {"text": "done", "usage": {"input_tokens": 100, "output_tokens": 20,
                                   "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}])
    location, flash = alice.form("/send", {"body": f"please read {XSS} carefully"})
    assert location.startswith("/?ok=") and flash["ok"][0].startswith("sent #")
    wait_for(lambda: stats_rows(hive, "alice"), timeout=60, what="alice's turn")
    wait_for(lambda: alice.state()["turn_state"] == "idle", timeout=20, what="idle")
    return int(re.search(r"#(\d+)", flash["ok"][0]).group(1))


def test_page_renders_badges_and_controls(alice):
    html = alice.html()
    assert "<title>alice · hyperhive</title>" in html
    assert re.search(r'id="alive-badge" class="badge b-alive b-alive-online" title="[^"]+">'
                     r'● online</span>', html)
    assert re.search(r'id="state-badge" class="badge b-turn b-turn-idle" title="waiting for a '
                     r'message since [0-9:]+">· idle · <span id="turn-age">[0-9]+s</span>', html)
    assert re.search(r'id="model-chip" class="badge b-model" title="[^"]*/model NAME[^"]*">'
                     r'model · haiku</span>', html)
    for badge in ("ctx-badge", "cost-badge", "last-badge"):
        assert f'id="{badge}"' in html
    assert re.search(r'<form method="post" action="/api/cancel" hx-post="/api/cancel" '
                     r'hx-swap="none" id="cancel-form" class="cancel-form" hidden>', html)
    assert '<section class="panel login-panel" id="login" hidden>' in html
    assert '<form method="post" action="/send" id="composer"' in html
    assert '<textarea id="composer-body" name="body"' in html
    for action in ("/api/compact", "/api/new-session", "/api/model"):
        assert f'action="{action}"' in html
    assert '<a href="/stats"' in html and 'id="term"' in html
    # no dashboard runs here (port 0), so there is no link to one
    assert "← dashboard" not in html
    assert '<script src="/static/agent.js" defer></script>' in html


def test_message_renders_escaped_in_stream_and_inbox(alice, turned):
    html = alice.html()
    assert XSS not in html
    head = section(html, '<div class="turn-head"')
    assert f"please read {ESCAPED} carefully" in head and "<b class=\"who\">operator</b>" in head
    inbox = section(html, f'<li class="msg" id="inbox-{turned}"')
    assert f"please read {ESCAPED} carefully" in inbox
    # the scripted tool call reads as a sentence, with the agent's markup escaped too
    assert '<span class="t">send → operator: got &lt;b&gt;it&lt;/b&gt;</span>' in html
    assert re.search(r'<div class="row r-end is-ok"><span class="g">✓</span> '
                     r'<span class="t">ok [0-9.]+s</span>', html)
    assert re.search(r'id="ctx-badge" class="badge b-ctx" title="context after the last turn: '
                     r'[0-9,]+ tokens · input 1,300 · cache read 30,000 · cache write 500 · '
                     r'output 100">ctx · [0-9.]+k?</span>', html)
    assert re.search(r'id="last-badge" class="badge b-last is-ok" title="[0-9]+ ms · ended at '
                     r'[0-9:]+">last · [0-9.]+s ok</span>', html)


def test_api_state_and_stats_after_a_real_turn(alice, turned):
    s = alice.state()
    assert s["name"] == "alice" and s["status"] == "online" and s["turn_state"] == "idle"
    assert s["last_turn"]["outcome"] == "ok" and s["last_turn"]["duration_ms"] > 0
    assert s["usage"]["input"] == 1300 and s["usage"]["cache_read"] == 30000
    assert any(m["id"] == turned and XSS in m["body"] for m in s["inbox"])
    assert s["inbox_error"] is None and isinstance(s["streams"], int) and s["seq"] > 0

    status, body = alice.get("/api/stats?window=1h")
    assert status == 200
    stats = json.loads(body)
    assert stats["window"] == "1h" and stats["step"] == 300 and stats["turns"] >= 1
    series = stats["series"]
    assert set(series) == {"t", "turns", "p50_ms", "p95_ms", "input", "output", "cache_read",
                           "cache_write", "tools_per_turn", "cost_usd", "inbox_last",
                           "inbox_max", "notes_bytes", "messages_per_turn", "messages_max",
                           "sends_peer", "sends_operator", "sends_manager", "sends_broadcast"}
    assert len({len(v) for v in series.values()}) == 1 and sum(series["turns"]) == stats["turns"]
    assert sum(series["input"]) >= 1300 and max(p for p in series["p95_ms"] if p) > 0
    assert stats["tools"]["mcp__hyperhive__send"] >= 1
    assert stats["outcomes"]["ok"] >= 1 and 0 <= stats["since_last_turn_s"] < 120
    # the one turn so far: woken with nothing else waiting, one send to the operator, no notes
    assert stats["sends"] == {"peer": 0, "operator": 1, "manager": 0, "broadcast": 0}
    assert sum(series["sends_operator"]) == 1
    assert [x for x in series["inbox_max"] if x is not None] == [0]
    assert [x for x in series["messages_max"] if x is not None] == [1]
    assert [x for x in series["messages_per_turn"] if x is not None] == [1]
    assert stats["inbox_depth"] == 0 and stats["notes_bytes"] is None
    assert stats["notes_limit"] == 24 * 1024

    status, body = alice.get("/api/stats?window=nope")
    assert status == 400
    reply = json.loads(body)
    assert reply["ok"] is False and reply["code"] == "bad_args" and "1h" in reply["error"]

    page = alice.html("/stats?window=1h")
    assert '<tr><th>mcp__hyperhive__send</th><td>' in page
    assert 'class="badge is-current" aria-current="page">1h</a>' in page
    assert 'data-chart="turns"' in page and "/static/vendor/uPlot.iife.min.js" in page
    for chart in ("inbox", "messages", "sends", "notes"):
        assert f'data-chart="{chart}"' in page
    assert '<tr class=""><th>operator</th><td>1</td></tr>' in page
    assert '<tr class="is-zero"><th>broadcast (*)</th><td>0</td></tr>' in page
    assert '<dd id="n-inbox">0</dd>' in page and '<dd id="n-notes">no notes.md</dd>' in page
    assert '<dd id="n-notes-limit">24.0 KB</dd>' in page
    assert "<td>1 operator</td><td>—</td></tr>" in page     # the bucket row: sent, notes
    assert "unknown window" in alice.html("/stats?window=nope")


def test_model_as_form_and_json(alice):
    location, flash = alice.form("/api/model", {"model": "sonnet"})
    assert location.startswith("/?ok=") and "sonnet" in flash["ok"][0]
    assert alice.state()["model"] == "sonnet"
    reply = alice.act("/api/model", {"model": "claude-haiku-4-5"})
    assert reply == {"ok": True, "message": reply["message"], "model": "claude-haiku-4-5"}
    bad = alice.act("/api/model", {"model": "no good!"}, expect=400)
    assert bad["ok"] is False and bad["code"] == "bad_args"
    _, flash = alice.form("/api/model", {"model": ""})
    assert "model" in flash["error"][0]
    alice.act("/api/model", {"model": "haiku"})
    assert "model · haiku</span>" in alice.html()


def test_cancel_with_nothing_running_is_a_conflict(alice):
    reply = alice.act("/api/cancel", expect=409)
    assert reply["code"] == "conflict" and "no turn or nap" in reply["error"]
    _, flash = alice.form("/api/cancel")
    assert "no turn or nap" in flash["error"][0]


def test_compact_when_idle_then_new_session(alice, turned, hive):
    reply = alice.act("/api/compact")
    assert reply["ok"] is True and reply["outcome"] == "started"
    # the request answers at once; the compaction goes on and shows in the stream
    assert alice.act("/api/compact", expect=409)["code"] == "conflict"
    wait_for(lambda: "compaction ok" in alice.html(), timeout=60, what="the compaction's note")
    s = alice.state()
    assert s["turn_state"] == "idle" and s["session_id"]
    reply = alice.act("/api/new-session")
    assert reply["ok"] is True and alice.state()["session_id"] is None
    # with no session there is nothing to compact
    assert alice.act("/api/compact", expect=409)["code"] == "conflict"
    html = alice.html()
    assert "compaction ok" in html and "the next turn starts a fresh session" in html


def test_cross_site_posts_are_refused(alice, hive):
    before = len(hive.agent("alice", "recent", limit=100)["messages"])
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        status, _, reply = alice.post("/api/model", {"model": "opus"}, as_json=True,
                                      headers=headers)
        assert status == 403 and reply["code"] == "forbidden"
        status, _, _ = alice.post("/send", {"body": "forged"}, headers=headers)
        assert status == 403
    assert alice.state()["model"] == "haiku"
    assert len(hive.agent("alice", "recent", limit=100)["messages"]) == before
    # the page's own origin is fine
    own = {"Origin": f"http://127.0.0.1:{alice.port}", "Sec-Fetch-Site": "same-origin"}
    status, _, reply = alice.post("/api/model", {"model": "haiku"}, as_json=True, headers=own)
    assert status == 200 and reply["ok"] is True


def test_send_needs_a_body(alice):
    reply = alice.act("/send", {"body": "   "}, expect=400)
    assert reply["code"] == "bad_args"


def read_frames(page, path, last_event_id, until, timeout=10):
    """An event stream's first bytes, up to `until` (or the timeout)."""
    with socket.create_connection(("127.0.0.1", page.port), timeout=timeout) as sock:
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{page.port}\r\n"
                      f"Cookie: {page.cookie}\r\n"
                      f"Last-Event-ID: {last_event_id}\r\n\r\n").encode())
        data = b""
        deadline = time.monotonic() + timeout
        while until not in data and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.decode("utf-8", "replace")


def test_events_replay_and_filter(alice, turned):
    def read_frames_(query, last_event_id, until):
        return read_frames(alice, "/events" + query, last_event_id, until)

    text = read_frames_("", 0, b"event: turn_end")
    assert "Content-Type: text/event-stream" in text
    kinds = re.findall(r"^event: (\w+)", text, re.M)
    assert "turn_start" in kinds and "stream" in kinds and "turn_end" in kinds
    assert kinds.index("turn_start") < kinds.index("turn_end")
    ends = read_frames_("?kinds=turn_end", 0, b"event: turn_end")
    assert set(re.findall(r"^event: (\w+)", ends, re.M)) == {"turn_end"}
    assert '"outcome":"ok"' in ends


def test_the_page_stream_replays_a_turn_as_rendered_fragments(alice, turned):
    text = read_frames(alice, "/page/events", 0, b"event: tick")
    assert "Content-Type: text/event-stream" in text
    targets = re.findall(r"^event: (\w+)", text, re.M)
    assert {"term", "badges", "inbox", "threads", "tick"} <= set(targets)
    # the turn's rows come as the page's own markup, escaped, each event's id on its last frame
    assert "data: <section class=\"turn is-new\">" in text
    assert f"please read {ESCAPED} carefully" in text and XSS not in text
    assert "send → operator: got &lt;b&gt;it&lt;/b&gt;" in text
    assert 'data: <span id="turn-age" hx-swap-oob="innerHTML">' in text
    ids = [int(i) for i in re.findall(r"^id: (\d+)", text, re.M)]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    # a stream that starts where the page was rendered replays nothing before it
    seq = alice.state()["seq"]
    later = read_frames(alice, f"/page/events?last_event_id={seq}", "", b"event: tick")
    assert "event: term" not in later and "event: tick" in later


def test_the_inbox_panel_alone(alice, turned):
    html = alice.html("/inbox")
    assert html.startswith('<section class="panel" id="inbox" hx-swap-oob="true">')
    assert f'id="inbox-{turned}"' in html and ESCAPED in html


def test_login_flow_from_the_page(stub):
    root = short_tmpdir()
    env = claude_env(stub, root / "home")
    for key in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "NOTIFY_SOCKET", "WATCHDOG_USEC"):
        env.pop(key, None)
    env.update(HYPERHIVE_LOG="stderr", HYPERHIVE_LOGIN_CMD=str(FAKE_LOGIN))
    h = HostProcess(root=root, claude_bin=find_claude(), env=env).start()
    try:
        wait_for(lambda: row(h, "manager")["needs_login"], timeout=30, what="needs_login")
        page = Page(row(h, "manager")["port"], h.cookie)
        wait_for(lambda: page.state()["status"] == "needs_login_idle", timeout=10,
                 what="the page to say so")
        html = page.html()
        assert '<section class="panel login-panel" id="login">' in html
        assert 'action="/login/start"' in html and "b-alive-needs_login_idle" in html
        assert page.act("/login/cancel", expect=409)["code"] == "conflict"

        location, _ = page.form("/login/start")
        assert location.startswith("/?ok=") and location.endswith("#login")
        wait_for(lambda: page.state()["login"]["url"] == LOGIN_URL, timeout=10,
                 what="the login link")
        s = page.state()
        assert s["status"] == "needs_login_in_progress" and s["login"]["running"] is True
        html = page.html()
        assert (f'<a id="login-url" class="login-url" href="{LOGIN_URL}" target="_blank" '
                f'rel="noopener noreferrer">{LOGIN_URL}</a>') in html
        assert 'action="/login/code"' in html and "Open https://example.invalid" in html

        reply = page.act("/login/code", {"code": "xyz123"})
        assert reply["ok"] is True
        wait_for(lambda: page.state()["status"] == "online", timeout=20, what="online")
        creds = root / "lib/agents/manager/claude/.credentials.json"
        assert json.loads(creds.read_text())["claudeAiOauth"]["accessToken"] == "fake-xyz123"
        # The login command ran as the agent's own uid: the credentials are claude's.
        assert creds.stat().st_uid == creds.parent.stat().st_uid
        assert (creds.stat().st_uid != 0) == (os.geteuid() == 0)
        s = page.state()
        assert s["login"]["finished"] is True and s["login"]["exit_note"] == "logged in"
        html = page.html()
        assert '<section class="panel login-panel" id="login" hidden>' in html
        assert "● online" in html and "login: Login successful" in html
    finally:
        h.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_open_threads_panel_lists_what_waits(alice, hive):
    qid = hive.agent("alice", "ask", question=f"ship it {XSS}?", options=["yes", "no"])["id"]
    try:
        html = alice.html()
        start = html.index('<details class="panel threads" id="threads" open>')
        panel = html[start:html.index("</details>", start)]
        assert f"question #{qid} from alice to operator: ship it {ESCAPED}?" in panel
        assert XSS not in html
        status, body = alice.get("/api/open-threads")
        threads = json.loads(body)["threads"]
        assert status == 200 and [t["id"] for t in threads] == [qid]
    finally:
        assert hive.admin("answer", id=qid, answer="yes")["ok"]
    assert json.loads(alice.get("/api/open-threads")[1])["threads"] == []
    assert '<details class="panel threads" id="threads">' in alice.html()
