"""The agent page's terminal over real HTTP: a real host (process backend), a real harness,
a real shell in a real pty. No claude turn runs, so claude is /bin/false.
"""

import base64
import http.client
import json
import os
import re
import shutil
import time

import pytest

from hive import HostProcess, clean_env, wait_for
from test_agent_page import Page
from test_e2e import row


class Stream:
    """One GET /terminal/stream, parsed as it arrives."""

    def __init__(self, page, last_event_id=None, timeout=20):
        self.conn = http.client.HTTPConnection("127.0.0.1", page.port, timeout=timeout)
        headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
        if page.cookie:
            headers["Cookie"] = page.cookie
        self.conn.request("GET", "/terminal/stream", headers=headers)
        self.res = self.conn.getresponse()
        assert self.res.status == 200
        assert self.res.getheader("Content-Type").startswith("text/event-stream")
        self.buf = ""
        self.events = []        # (id, kind, data)
        self.output = b""
        self.last_id = None

    def text(self):
        return self.output.decode("utf-8", "replace")

    def kinds(self):
        return [kind for _, kind, _ in self.events]

    def until(self, check, timeout=15, what="the stream"):
        deadline = time.monotonic() + timeout
        while not check(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {self.text()[-1500:]!r}")
            self._read()
        return self

    def until_text(self, pattern, timeout=15):
        """The first match of `pattern` in the output, once there is one."""
        self.until(lambda s: re.search(pattern, s.text()), timeout, what=repr(pattern))
        return re.search(pattern, self.text())

    def _read(self):
        chunk = self.res.read1(65536)     # keep-alives come every 0.3 s (HYPERHIVE_SSE_KEEPALIVE)
        if not chunk:
            raise EOFError("the stream ended")
        self.buf += chunk.decode()
        while "\n\n" in self.buf:
            raw, self.buf = self.buf.split("\n\n", 1)
            self._parse(raw)

    def _parse(self, raw):
        fields = {}
        for line in raw.split("\n"):
            if line.startswith(":") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key] = value[1:] if value.startswith(" ") else value
        if "event" not in fields:
            return
        data = json.loads(fields["data"])
        self.events.append((fields.get("id"), fields["event"], data))
        if fields.get("id"):
            self.last_id = int(fields["id"])
        if fields["event"] == "output":
            self.output += base64.b64decode(data["data"])

    def close(self):
        self.conn.close()


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def up(page):
    try:
        return page.get("/api/state")[0] == 200
    except OSError:
        return False


def gone(pid):
    """True once `pid` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):    # it went while we looked
        return True


@pytest.fixture(scope="module")
def hive():
    h = HostProcess(env=clean_env(HYPERHIVE_SSE_KEEPALIVE="0.3")).start()
    try:
        yield h
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


def agent_page(h, name):
    page = Page(wait_for(lambda: row(h, name)["port"], 20, what=f"{name}'s port"), h.cookie)
    wait_for(lambda: up(page), 20, what=f"{name}'s page")
    return page


@pytest.fixture(scope="module")
def page(hive):
    return agent_page(hive, "manager")


@pytest.fixture
def shell(page):
    """A started shell and a stream that follows it; the shell is ended afterwards."""
    reply = page.act("/terminal/start", {"rows": 24, "cols": 80})
    stream = Stream(page)
    stream.until(lambda s: "start" in s.kinds(), what="the start event")
    yield stream, reply["pid"]
    stream.close()
    status, _, _ = page.post("/terminal/stop", as_json=True)
    assert status in (200, 409)
    wait_for(lambda: gone(reply["pid"]), 10, what="the shell to end")
    wait_for(lambda: page.post("/terminal/input", {"data": b64("x")}, as_json=True)[0] == 409,
             10, what="the terminal to see it")


def send(page, text):
    return page.act("/terminal/input", {"data": b64(text)})


def test_pages_link_and_explain_the_terminal(page):
    assert '<a href="/terminal" class="">⌨ terminal</a>' in page.html()
    html = page.html("/terminal")
    assert '<a href="/terminal" class="is-here">⌨ terminal</a>' in html
    assert "the terminal needs javascript" in html
    for src in ("/static/vendor/xterm.js", "/static/vendor/addon-fit.js", "/static/hive.js",
                "/static/terminal.js"):
        assert f'<script src="{src}" defer></script>' in html
    assert '<form method="post" action="/terminal/start"' in html
    assert '<div id="shell" class="shell"' in html


def test_a_shell_in_a_pty_in_the_state_dir(page, hive, shell):
    stream, pid = shell
    send(page, "echo hello-$((6*7))\r")
    stream.until_text(r"hello-42")
    # its own session and process group, with the pty as its controlling terminal
    send(page, "echo pid=$$ sid=$(ps -o sid= -p $$) tty=$(tty) term=$TERM; "
               ": </dev/tty && echo ctty-$((1+1))\r")
    found = stream.until_text(r"pid=(\d+) sid=\s*(\d+) tty=(/dev/pts/\d+) term=(\S+)")
    assert int(found[1]) == pid and int(found[2]) == pid
    assert found[4] == "xterm-256color"
    stream.until_text(r"ctty-2")
    send(page, "echo cwd=$(pwd -P)\r")
    cwd = stream.until_text(r"cwd=(/\S+)")[1]
    assert cwd == os.path.realpath(hive.root / "lib" / "agents" / "manager" / "state")

    # Ctrl-C reaches the foreground job through the terminal (nothing blocks SIGINT)
    started = time.monotonic()
    send(page, "sleep 30; echo slept-$((8*8))\r")
    time.sleep(0.5)
    send(page, "\x03echo woke-$((9*9))\r")
    stream.until_text(r"woke-81")
    assert time.monotonic() - started < 10 and "slept-64" not in stream.text()

    assert page.act("/terminal/resize", {"rows": 40, "cols": 120})["rows"] == 40
    send(page, "stty size\r")
    stream.until_text(r"[\r\n]40 120\r\n")


def test_the_shell_runs_as_the_agents_own_uid(page, hive, shell):
    stream, _ = shell
    send(page, "echo ids=$(id -u):$(id -g) home=$HOME user=$USER\r")
    found = stream.until_text(r"ids=(\d+):(\d+) home=(\S+) user=(\S+)")
    state = (hive.root / "lib/agents/manager/state").stat()
    assert (int(found[1]), int(found[2])) == (state.st_uid, state.st_gid)
    assert (state.st_uid != 0) == (os.geteuid() == 0)
    assert found[3] == str(hive.root / "lib/agents/manager/home") and found[4] == "manager"


def test_a_reconnect_gets_what_it_missed_and_no_more(page, shell):
    first, _ = shell
    send(page, "echo one-$((1))\r")
    first.until_text(r"one-1\r")
    mark = first.until(lambda s: s.last_id is not None).last_id

    again = Stream(page, last_event_id=mark)
    try:
        again.until(lambda s: s.events, what="the replay")
        _, kind, data = again.events[0]
        assert kind == "output" and "reset" not in data
        send(page, "echo two-$((2))\r")
        again.until_text(r"two-2\r")
        assert "one-1" not in again.text()
        # the offsets are the same on both streams
        first.until_text(r"two-2\r")
        assert again.text() == first.text()[len(first.text()) - len(again.text()):]
    finally:
        again.close()

    for last in (None, 10**12):     # no id, or one from before a restart: the whole ring
        fresh = Stream(page, last_event_id=last)
        try:
            fresh.until(lambda s: "start" in s.kinds(), what="the replay and the state")
            assert fresh.events[0][1] == "output" and fresh.events[0][2]["reset"] is True
            assert "one-1" in fresh.text() and "two-2" in fresh.text()
        finally:
            fresh.close()


def test_the_ring_keeps_the_last_64_kib(page, shell):
    stream, _ = shell
    send(page, "head -c 100000 /dev/zero | tr '\\0' a; echo; echo ring-$((5*5))\r")
    stream.until_text(r"ring-25\r", timeout=30)
    fresh = Stream(page, last_event_id=1)     # fell out of the ring long ago
    try:
        fresh.until(lambda s: "start" in s.kinds())
        end, kind, data = fresh.events[0]
        assert kind == "output" and data["reset"] is True
        assert len(fresh.output) == 65536 and "ring-25" in fresh.text()
        # the same bytes the first stream got, up to the offset the replay ended at
        end = int(end)
        stream.until(lambda s: s.last_id >= end, what="the first stream to get as far")
        upto = len(stream.output) - (stream.last_id - end)
        assert fresh.output == stream.output[:upto][-65536:]
    finally:
        fresh.close()


def test_cross_site_and_oversized_posts_are_refused(page, shell):
    stream, _ = shell
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        for path, fields in (("/terminal/input", {"data": b64("echo forged-$((1+1))\r")}),
                             ("/terminal/stop", {}), ("/terminal/start", {}),
                             ("/terminal/resize", {"rows": 5, "cols": 5})):
            status, _, reply = page.post(path, fields, as_json=True, headers=headers)
            assert status == 403 and reply["code"] == "forbidden", (path, reply)

    status, _, reply = page.post("/terminal/input", {"data": b64(b"x" * (64 * 1024 + 1))},
                                 as_json=True)
    assert status == 413 and reply["code"] == "too_large"
    for fields in ({"data": "not base64!"}, {}):
        assert page.act("/terminal/input", fields, expect=400)["code"] == "bad_args"
    for fields in ({"rows": 0, "cols": 80}, {"rows": 40, "cols": 5000}, {"rows": "x", "cols": 1},
                   {"rows": 40}):
        assert page.act("/terminal/resize", fields, expect=400)["code"] == "bad_args"

    send(page, "echo legit-$((2+2))\r")
    stream.until_text(r"legit-4")
    assert "forged-2" not in stream.text()
    assert stream.kinds().count("start") == 1 and "exit" not in stream.kinds()


def test_stop_ends_the_shell_and_a_new_one_starts(page, shell):
    stream, pid = shell
    assert page.act("/terminal/start", expect=409)["code"] == "conflict"
    reply = page.act("/terminal/stop")
    assert reply["pid"] == pid
    stream.until(lambda s: "exit" in s.kinds(), what="the exit event")
    assert "[the shell was killed by SIGHUP" in stream.text()
    # each state event carries the badge as the page renders it
    exit_event = [d for _, k, d in stream.events if k == "exit"][-1]
    assert exit_event["html"].strip() == '<span id="shell-state" class="badge b-shell">○ no shell</span>'
    wait_for(lambda: gone(pid), 5, what="the shell to be gone")
    assert page.act("/terminal/stop", expect=409)["code"] == "conflict"
    reply = page.act("/terminal/input", {"data": b64("ls\r")}, expect=409)
    assert reply["code"] == "conflict"
    assert 'class="badge b-shell">○ no shell</span>' in page.html("/terminal")

    # a plain form post (no JavaScript) starts the next one and comes back to the page
    location, flash = page.form("/terminal/start")
    assert location.startswith("/terminal?ok=") and "shell started" in flash["ok"][0]
    stream.until(lambda s: s.kinds().count("start") == 2, what="the second start")
    second = [d for _, k, d in stream.events if k == "start"][-1]
    assert second["pid"] != pid and second["version"] > 1
    assert f"● running · pid {second['pid']}</span>" in second["html"]
    assert f"● running · pid {second['pid']}" in page.html("/terminal")
    send(page, "echo back-$((3*3))\r")
    stream.until_text(r"back-9")


def test_a_shell_that_ignores_sighup_is_killed_after_3s(page, shell):
    stream, pid = shell
    send(page, "trap '' HUP; echo trapped-$((7))\r")
    stream.until_text(r"trapped-7")
    started = time.monotonic()
    page.act("/terminal/stop")
    stream.until(lambda s: "exit" in s.kinds(), timeout=10, what="the exit event")
    assert 2.5 < time.monotonic() - started < 8
    assert [d for _, k, d in stream.events if k == "exit"][-1]["code"] == -9
    assert "[the shell was killed by SIGKILL" in stream.text()
    wait_for(lambda: gone(pid), 5, what="the shell to be gone")


def test_typed_exit_says_so_and_allows_a_new_one(page, shell):
    stream, pid = shell
    send(page, "exit 3\r")
    stream.until(lambda s: "exit" in s.kinds(), what="the exit event")
    assert [d for _, k, d in stream.events if k == "exit"][-1]["code"] == 3
    assert "[the shell exited with 3 · press Enter or ▶ start for a new one]" in stream.text()
    reply = page.act("/terminal/start")
    assert reply["pid"] != pid


def test_stopping_the_harness_ends_its_shell(hive):
    assert hive.admin("spawn", name="alice")["ok"]
    page = agent_page(hive, "alice")
    stream = Stream(page)
    try:
        page.act("/terminal/start")
        # deaf to SIGHUP and never reading its tty, it would outlive the pty's hang-up:
        # only the harness's stop ends it
        send(page, "trap '' HUP; echo pid=$$; exec sleep 1000\r")
        pid = int(stream.until_text(r"pid=(\d+)\r")[1])
        started = time.monotonic()
        assert hive.admin("stop", name="alice")["ok"]
        wait_for(lambda: gone(pid), 15, what="alice's shell to end with her harness")
        assert time.monotonic() - started < 12
    finally:
        stream.close()
