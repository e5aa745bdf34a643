"""`hyperhive mcp` against a real host: the tools, their texts, and what claude receives.

The harness forwards these verbs to the host unchanged, so pointing the server at an
agent's broker.sock exercises the real path minus the harness. `nap` and `whoami` are
the harness's own verbs; their texts are pinned through the pure formatters of replies.py.
"""

import json
import os
import select
import subprocess
import threading
import time

import anyio
import pytest
from mcp import Client, StdioServerParameters

from hive import ENTRY, PYTHON, REPO, short_tmpdir, wait_for
from hyperhive import mcp_server, replies, settings
from hyperhive.mcp_server import build_server
from hyperhive.replies import REDELIVERED_BANNER

AGENT_TOOLS = {"send", "recv", "nap", "ask", "answer", "remind", "reminders", "cancel_reminder", "search",
               "set_status", "open_threads", "whoami"}
MANAGER_TOOLS = {"request_spawn", "request_apply_commit", "request_spawn_draft",
                 "request_spawn_commit", "drafts", "discard_draft", "start", "stop", "restart",
                 "rebuild", "list", "get_logs"}


def call(server, tool, **args):
    """Call one tool over the in-memory JSON-RPC loop; (text, is_error)."""
    async def main():
        async with Client(server, mode="legacy") as c:
            return await c.call_tool(tool, args)
    result = anyio.run(main)
    assert len(result.content) == 1 and result.content[0].type == "text"
    assert result.structured_content is None
    return result.content[0].text, result.is_error


def ok(server, tool, **args):
    text, is_error = call(server, tool, **args)
    assert not is_error, text
    return text


def refused(server, tool, **args):
    text, is_error = call(server, tool, **args)
    assert is_error, text
    assert text.startswith(f"Error executing tool {tool}: ")
    return text


def inbox(h):
    return h.admin("inbox")["messages"]


# Tool list ###################################################################

def test_tool_lists_and_descriptions(tmp_path):
    async def tools(manager):
        async with Client(build_server(tmp_path / "none.sock", manager=manager),
                          mode="legacy") as c:
            return (await c.list_tools()).tools

    agent = anyio.run(tools, False)
    manager = anyio.run(tools, True)
    assert {t.name for t in agent} == AGENT_TOOLS
    assert {t.name for t in manager} == AGENT_TOOLS | MANAGER_TOOLS
    for tool in manager:
        assert tool.description and len(tool.description) > 40, tool.name
        assert tool.output_schema is None, tool.name
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert prop.get("description"), (tool.name, name)
    by_name = {t.name: t for t in manager}
    assert "180" in by_name["recv"].description and "idle" in by_name["recv"].description
    for form in ("manager", "operator", "*"):
        assert form in by_name["send"].description
    assert "queueing" in by_name["nap"].description
    assert by_name["send"].input_schema["required"] == ["to", "body"]


def test_socket_path_prefers_the_environment():
    assert mcp_server.socket_path(settings.load({})) == "/run/hive/mcp.sock"
    assert mcp_server.socket_path(settings.load({"HYPERHIVE_HIVE_DIR": "/h"})) == "/h/mcp.sock"
    assert mcp_server.socket_path(settings.load({"HYPERHIVE_SOCK": "/tmp/x.sock"})) == "/tmp/x.sock"


# Tools against a real host ###################################################

def test_send_reaches_the_operator(host_with_alice):
    h = host_with_alice
    server = build_server(h.agent_sock("alice"))
    text = ok(server, "send", to="operator", body="build is green")
    first = inbox(h)[0]
    assert (first["from"], first["body"]) == ("alice", "build is green")
    assert text == f"sent to operator (message #{first['id']})"
    text = ok(server, "send", to="operator", body="details", in_reply_to=first["id"])
    second = inbox(h)[0]
    assert second["in_reply_to"] == first["id"]
    assert text == f"sent to operator (message #{second['id']}, a reply to #{first['id']})"


def test_recv_blocks_and_redelivery_banner(host_with_alice):
    h = host_with_alice
    server = build_server(h.agent_sock("alice"))
    peek = ok(server, "recv")
    assert peek.startswith("(no messages)") and "wait_seconds" in peek and "180" in peek
    started = time.monotonic()
    waited = ok(server, "recv", wait_seconds=0.5)
    assert waited.startswith("(no messages)") and time.monotonic() - started >= 0.4

    a = h.admin("send", to="alice", body="line one\nline two")["id"]
    b = h.admin("send", to="alice", body="and a reply", in_reply_to=a)["id"]
    text = ok(server, "recv", max=5)
    assert text == (f"message #{a} from operator\n---\nline one\nline two\n---\n\n"
                    f"message #{b} from operator (reply to #{a})\n---\nand a reply\n---")
    assert REDELIVERED_BANNER not in text

    # Taken but never acked: after a requeue it comes back with the banner first.
    c = h.admin("send", to="alice", body="handle me once")["id"]
    assert f"message #{c} from operator" in ok(server, "recv")
    assert h.agent("alice", "requeue")["requeued"] >= 1
    again = ok(server, "recv", max=32)
    block = again.split("\n\n")[next(i for i, part in enumerate(again.split("\n\n"))
                                 if f"message #{c} " in part)]
    assert block.startswith(f"{REDELIVERED_BANNER}\nmessage #{c} from operator\n---\n")


def test_parked_recv_returns_when_a_message_arrives(host_with_alice):
    h = host_with_alice
    server = build_server(h.agent_sock("alice"))
    timer = threading.Timer(0.5, h.admin, ("send",), {"to": "alice", "body": "wake up"})
    timer.start()
    started = time.monotonic()
    text = ok(server, "recv", wait_seconds=20)
    timer.join()
    assert "wake up" in text and time.monotonic() - started < 5


def test_broadcast_hint_and_the_recipient_policy(host_with_alice):
    h = host_with_alice
    assert h.admin("spawn", name="bob")["ok"]
    alice = build_server(h.agent_sock("alice"))
    bob = build_server(h.agent_sock("bob"))
    text = ok(alice, "send", to="*", body="all hands")
    assert text.startswith("broadcast to 2 agents: ")
    assert sorted(text.split(": ")[1].split(" (")[0].split(", ")) == ["bob", "manager"]
    got = ok(bob, "recv")
    assert "from alice\n(this was a broadcast to every agent and may not need any action" in got

    applied = h.root / "lib" / "applied" / "alice" / "agent.json"
    config = json.loads(applied.read_text())
    config["allowed_recipients"] = ["operator"]
    applied.write_text(json.dumps(config))
    assert h.admin("rebuild", name="alice")["ok"]
    text = refused(alice, "send", to="bob", body="psst")
    sentence = text.removeprefix("Error executing tool send: ")
    assert sentence == h.agent("alice", "send", to="bob", body="psst")["error"]
    assert "may not send to 'bob'" in sentence and "relay" in sentence
    assert ok(alice, "send", to="manager", body="please relay").startswith("sent to manager")


def test_refusals_carry_the_hosts_sentence(host_with_alice):
    server = build_server(host_with_alice.agent_sock("alice"))
    text = refused(server, "send", to="ghost", body="boo")
    assert "there is no agent named 'ghost'" in text
    assert "must not be empty" in refused(server, "send", to="operator", body="  ")
    assert "less than or equal to 32" in refused(server, "recv", max=99)    # by the schema
    # Without the manager's socket the manager's verbs do not exist.
    assert "unknown cmd" in refused(build_server(host_with_alice.agent_sock("alice"),
                                                 manager=True), "list")


def test_questions_reminders_status_threads(host_with_alice):
    h = host_with_alice
    assert h.admin("spawn", name="bob")["ok"]
    alice = build_server(h.agent_sock("alice"))
    bob = build_server(h.agent_sock("bob"))

    text = ok(alice, "ask", question="deploy now?", options=["yes", "no"], ttl_seconds=600)
    qid = h.admin("questions")["questions"][0]["id"]
    assert text == (f"question #{qid} queued for the operator; the answer will arrive later "
                    "as a system message (event question_answered) — do not wait for it inline")
    assert ok(alice, "open_threads") == (f"question #{qid} from alice to operator, "
                                         "unanswered: deploy now?")
    assert "was not asked of you" in refused(alice, "answer", id=qid, answer="yes")
    assert h.admin("answer", id=qid, answer="yes")["ok"]
    event = ok(alice, "recv")
    assert "from system (hive system event `question_answered`" in event
    assert '"answer": "yes"' in event or '"answer":"yes"' in event
    assert ok(alice, "open_threads").startswith("(no open threads")

    peer = ok(alice, "ask", question="which branch?", to="bob")
    pid = int(peer.split("#")[1].split()[0])
    assert peer.startswith(f"question #{pid} queued for bob;")
    assert "question_asked" in ok(bob, "recv")
    assert ok(bob, "answer", id=pid, answer="main").startswith(f"answered question #{pid}")

    before = time.time()
    text = ok(alice, "remind", message="check the build", delay_seconds=3600)
    rid = int(text.split("#")[1].split()[0])
    assert text.startswith(f"reminder #{rid} set: it arrives in your inbox (from `reminder`) at ")
    due = time.strftime("%Y-%m-%d %H:%M", time.gmtime(before + 3600))
    assert due in text and ("in 1h 0m" in text or "in 59m 59s" in text)
    assert h.agent("alice", "status")["pending_reminders"] == 1
    assert "file_path" in refused(alice, "remind", message="x" * 5000, delay_seconds=1)

    assert ok(alice, "set_status", text="reviewing #12") == "status set: reviewing #12"
    rows = {r["name"]: r for r in h.admin("status")["agent_statuses"]}
    assert rows["alice"]["status_text"] == "reviewing #12"
    assert ok(alice, "set_status", text="") == "status cleared"


def test_manager_tools(host_with_alice):
    h = host_with_alice
    server = build_server(h.agent_sock("manager"), manager=True)
    assert ok(server, "list") == "agents: manager, alice"
    assert ok(server, "stop", name="alice") == "alice stopped (not running)"
    assert ok(server, "start", name="alice") == "alice started (running)"
    assert "on itself" in refused(server, "restart", name="manager")
    text = ok(server, "request_spawn", name="erin", description="tests things")
    approval = h.admin("pending")["approvals"][0]
    assert text.startswith(f"spawn of erin requested (approval #{approval['id']});")
    threads = ok(server, "open_threads")
    assert f"approval #{approval['id']} pending: spawn erin" in threads


def test_a_socket_that_comes_back_is_retried_and_noted(host_with_alice):
    h = host_with_alice
    link = short_tmpdir() / "mcp.sock"
    server = build_server(link)
    threading.Timer(0.3, os.symlink, (h.agent_sock("alice"), link)).start()
    text = ok(server, "send", to="operator", body="after a flicker")
    assert text.endswith("\n(the hive socket needed 1 retry; this result is complete)")
    assert inbox(h)[0]["body"] == "after a flicker"


def test_a_host_link_that_comes_back_is_retried_through_the_harness(host_with_alice):
    """mcp -> harness is fine, harness -> host flickers: the harness retries, the note says so."""
    h = host_with_alice
    mcp_sock = h.root / "run" / "agents" / "alice" / "mcp.sock"
    wait_for(mcp_sock.exists, what="alice's harness socket")
    broker = h.agent_sock("alice")
    away = broker.with_name("broker.sock.away")
    os.rename(broker, away)
    threading.Timer(1.0, os.rename, (away, broker)).start()
    text = ok(build_server(mcp_sock), "send", to="operator", body="after a host flicker")
    assert text.endswith("\n(the hive socket needed 1 retry; this result is complete)"), text
    assert [m["body"] for m in inbox(h)].count("after a host flicker") == 1


def test_a_socket_that_never_answers():
    missing = short_tmpdir() / "mcp.sock"
    server = build_server(missing, sleep=lambda seconds: None)
    text = refused(server, "send", to="operator", body="hello?")
    assert f"the hive socket is not answering: {missing}" in text


# Pure formatting #############################################################

def test_format_nap_and_whoami():
    assert replies.format_nap({"ok": True, "text": "napping 10 min"}, 600) == "napping 10 min"
    assert replies.format_nap({"until": 1_800_000_000}, 60).startswith(
        "napping until 2027-01-15 08:00:00 UTC: finish this turn")
    assert replies.format_nap({}, 60, now=1_800_000_000).startswith(
        "napping until 2027-01-15 08:01:00 UTC")
    assert replies.format_whoami({"ok": True, "v": 1, "name": "alice", "role": "agent"}) == \
        "you are alice, a hyperhive agent"
    assert replies.format_whoami({"name": "manager", "role": "manager", "port": 8000}) == \
        "you are manager, a hyperhive manager\nport: 8000"


def test_format_messages_edge_cases():
    system = {"id": 4, "from": "system", "body": '{"event": "spawned", "agent": "bob"}',
              "in_reply_to": None, "redelivered": True}
    text = replies.format_messages([system], max_count=2)
    assert text == (f"{REDELIVERED_BANNER}\nmessage #4 from system (hive system event "
                    "`spawned`; the JSON below describes it)\n---\n"
                    '{"event": "spawned", "agent": "bob"}\n---')
    full = replies.format_recv({"messages": [{**system, "redelivered": False}]})
    assert full.endswith("(there may be more waiting: call recv again to take them)")
    notice = replies.format_message({"id": 5, "from": "system", "body": "restarted"})
    assert notice.startswith("message #5 from system (hive system notice)")
    assert replies.format_sent({"id": None, "ids": [], "recipients": []}, to="*").startswith(
        "there are no other agents")
    assert replies.with_retry_note("x", 0) == "x"
    assert replies.with_retry_note("x", 3) == \
        "x\n(the hive socket needed 3 retries; this result is complete)"
    assert [replies.span(s) for s in (5, 200, 7500, 90000)] == ["5s", "3m 20s", "2h 5m",
                                                                "1d 1h"]
    assert replies.format_threads({"threads": [
        {"kind": "approval", "id": 7, "agent": "bob", "summary": "spawn bob"}]}) == \
        "approval #7 pending: spawn bob"


def test_a_draft_names_where_to_edit_it():
    text = replies.format_draft({"port": 8123}, name="ted", agents_dir="/srv/agents")
    assert text.startswith("draft ted created: edit /srv/agents/ted/config/agent.json")
    assert text.endswith("request_spawn_commit(name='ted', commit_ref=<sha>) to ask the "
                         "operator to boot it. Its page will be on port 8123.")


# The real process, serving one session on its own stdio (`--stdio`) ##########

def stdio_env(sock):
    return {"HYPERHIVE_SOCK": str(sock), "PATH": os.environ["PATH"], "HYPERHIVE_LOG": "stderr"}


def test_over_real_stdio(host_with_alice):
    h = host_with_alice
    params = StdioServerParameters(command=PYTHON, args=[ENTRY, "mcp", "--stdio"],
                                   env=stdio_env(h.agent_sock("alice")), cwd=str(REPO))

    async def main():
        async with Client(params, mode="legacy") as c:
            names = {t.name for t in (await c.list_tools()).tools}
            result = await c.call_tool("send", {"to": "operator", "body": "over stdio"})
            return names, result

    names, result = anyio.run(main)
    assert names == AGENT_TOOLS
    assert not result.is_error
    assert result.content[0].text == f"sent to operator (message #{inbox(h)[0]['id']})"
    assert inbox(h)[0]["body"] == "over stdio"


class Lines:
    """JSON-RPC lines to and from a server process, with a deadline per read."""

    def __init__(self, proc):
        self.proc = proc
        self.buf = b""

    def write(self, obj):
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def read(self, timeout=15):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"no reply line within {timeout}s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"server closed stdout after {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self, rid):
        while True:
            msg = self.read()
            if msg.get("id") == rid:
                return msg


def test_raw_json_rpc_is_what_claude_sees(host_with_alice):
    h = host_with_alice
    proc = subprocess.Popen([PYTHON, ENTRY, "mcp", "--stdio"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=stdio_env(h.agent_sock("alice")), cwd=str(REPO))
    try:
        rpc = Lines(proc)
        rpc.write({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "claude-code", "version": "2.1.328"}}})
        init = rpc.reply(1)["result"]
        assert init["serverInfo"]["name"] == "hyperhive"
        assert "recv" in init["instructions"]
        rpc.write({"jsonrpc": "2.0", "method": "notifications/initialized"})
        rpc.write({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                   "params": {"name": "send", "arguments": {"to": "operator", "body": "raw"}}})
        result = rpc.reply(2)["result"]
        mid = inbox(h)[0]["id"]
        assert result["content"] == [{"type": "text", "text": f"sent to operator (message #{mid})"}]
        assert "structuredContent" not in result and not result.get("isError")
        rpc.write({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                   "params": {"name": "send", "arguments": {"to": "ghost", "body": "x"}}})
        error = rpc.reply(3)["result"]
        assert error["isError"] is True and len(error["content"]) == 1
        assert "there is no agent named 'ghost'" in error["content"][0]["text"]
        proc.stdin.close()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_the_mcp_process_never_loads_gevent():
    code = ("import sys, socket; import hyperhive.mcp_server; from hyperhive import launch; "
            "print('gevent' in sys.modules, socket.socket.__module__)")
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=str(REPO),
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "socket"]


@pytest.mark.parametrize("manager", [False, True])
def test_manager_flag_over_the_command_line(manager, tmp_path):
    params = StdioServerParameters(
        command=PYTHON, args=[ENTRY, "mcp", "--stdio", *(["--manager"] if manager else [])],
        env=stdio_env(tmp_path / "none.sock"), cwd=str(REPO))

    async def main():
        # "auto" negotiates the stateless 2026-07-28 protocol, as current claude does.
        async with Client(params, mode="auto") as c:
            return {t.name for t in (await c.list_tools()).tools}

    assert anyio.run(main) == (AGENT_TOOLS | MANAGER_TOOLS if manager else AGENT_TOOLS)
