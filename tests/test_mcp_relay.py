"""claude's per-turn `hyperhive mcp` is a stdlib relay to the agent's warm MCP server.

The warm server here is the real `hyperhive mcp --listen-fd` process on a socket bound
as the harness binds it, pointed at a real host's agent socket; the relay is the real
`hyperhive mcp` that claude starts, driven by the SDK's client over stdio.
"""

import json
import os
import signal
import subprocess
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from anthropic_stub import Stub, claude_env, find_claude
from hive import ENTRY, PYTHON, REPO, short_tmpdir, wait_for
from hyperhive import mcprelay, settings
from hyperhive.server import bind_unix
from test_mcp_server import AGENT_TOOLS, MANAGER_TOOLS, Lines, inbox

HEAVY = ("gevent", "peewee", "mcp", "pydantic", "anyio", "hyperhive.mcp_server")


@contextmanager
def warm_server(target, hive_dir=None, manager=False):
    """A warm server for the harness socket `target`, listening in `hive_dir`; yields
    (hive_dir, process). Stopped and its socket removed on the way out."""
    hive_dir = hive_dir or short_tmpdir()
    listening = bind_unix(mcprelay.socket_path(str(hive_dir)), mode=0o600)
    fd = listening.fileno()
    env = {"HYPERHIVE_SOCK": str(target), "PATH": os.environ["PATH"], "HYPERHIVE_LOG": "stderr"}
    proc = subprocess.Popen([PYTHON, ENTRY, "mcp", "--listen-fd", str(fd),
                             *(["--manager"] if manager else [])], pass_fds=[fd], env=env,
                            cwd=str(REPO), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        yield hive_dir, proc
    finally:
        proc.kill()
        proc.wait()
        listening.close()
        Path(mcprelay.socket_path(str(hive_dir))).unlink(missing_ok=True)


def relay_params(hive_dir):
    return StdioServerParameters(command=PYTHON, args=[ENTRY, "mcp"], cwd=str(REPO),
                                 env={"HYPERHIVE_HIVE_DIR": str(hive_dir),
                                      "PATH": os.environ["PATH"]})


def list_and_send(hive_dir, body, mode="legacy"):
    async def main():
        async with Client(relay_params(hive_dir), mode=mode) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            return names, await c.call_tool("send", {"to": "operator", "body": body})
    return anyio.run(main)


def test_the_relay_imports_nothing_heavy():
    """The whole `hyperhive mcp` run, against a server that accepts and hangs up."""
    hive_dir = short_tmpdir()
    listening = bind_unix(mcprelay.socket_path(str(hive_dir)), mode=0o600)
    hang_up = threading.Thread(target=lambda: listening.accept()[0].close())
    hang_up.start()
    code = ("import sys; from hyperhive.entry import main; "
            f"rc = main(['mcp', '--hive-dir', {str(hive_dir)!r}]); "
            f"heavy = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r}]; "
            "print(rc, *heavy, file=sys.stderr)")
    try:
        out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True,
                             cwd=str(REPO), timeout=30, stdin=subprocess.DEVNULL)
    finally:
        hang_up.join(10)
        listening.close()
    assert out.returncode == 0 and out.stdout == "", out.stderr
    assert out.stderr.split() == ["0"]


def test_the_relay_carries_a_real_session_to_the_warm_server(host_with_alice):
    h = host_with_alice
    with warm_server(h.agent_sock("alice")) as (hive_dir, _):
        for turn in ("first turn", "second turn"):       # one warm server, many sessions
            names, result = list_and_send(hive_dir, turn, mode="auto")
            assert names == AGENT_TOOLS
            assert not result.is_error, result
            assert result.content[0].text == f"sent to operator (message #{inbox(h)[0]['id']})"
            assert inbox(h)[0]["body"] == turn


def test_sessions_run_side_by_side_on_one_warm_server(host_with_alice):
    h = host_with_alice
    with warm_server(h.agent_sock("alice")) as (hive_dir, _):
        results = []
        threads = [threading.Thread(target=lambda i=i: results.append(
            list_and_send(hive_dir, f"side {i}"))) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(results) == 3 and not any(r.is_error for _, r in results)
        assert sorted(m["body"] for m in inbox(h)[:3]) == ["side 0", "side 1", "side 2"]


def relay_session(hive_dir, stderr=subprocess.PIPE):
    """`hyperhive mcp` as claude starts it, past the MCP handshake: the process, its
    JSON-RPC lines, and the server's answer to `initialize`."""
    proc = subprocess.Popen([PYTHON, ENTRY, "mcp", "--hive-dir", str(hive_dir)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                            cwd=str(REPO), env={"PATH": os.environ["PATH"]})
    try:
        rpc = Lines(proc)
        rpc.write({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "claude-code", "version": "2.1.328"}}})
        hello = rpc.reply(1)
        rpc.write({"jsonrpc": "2.0", "method": "notifications/initialized"})
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, rpc, hello


def test_raw_json_rpc_through_the_relay_and_its_end(host_with_alice):
    h = host_with_alice
    with warm_server(h.agent_sock("alice")) as (hive_dir, server):
        proc, rpc, hello = relay_session(hive_dir)
        try:
            assert hello["result"]["serverInfo"]["name"] == "hyperhive"
            rpc.write({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                       "params": {"name": "send", "arguments": {"to": "ghost", "body": "x"}}})
            error = rpc.reply(2)["result"]
            assert error["isError"] is True
            assert "there is no agent named 'ghost'" in error["content"][0]["text"]
            proc.stdin.close()          # claude's side ends: the relay ends, the server stays
            assert proc.wait(10) == 0
            assert server.poll() is None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()


def test_the_manager_flag_of_the_warm_server(tmp_path):
    for manager, tools in ((False, AGENT_TOOLS), (True, AGENT_TOOLS | MANAGER_TOOLS)):
        with warm_server(tmp_path / "none.sock", manager=manager) as (hive_dir, _):
            async def main(hive_dir=hive_dir):
                async with Client(relay_params(hive_dir), mode="auto") as c:
                    return {t.name for t in (await c.list_tools()).tools}
            assert anyio.run(main) == tools


def test_the_relay_waits_for_a_server_that_is_still_starting(host_with_alice):
    h = host_with_alice
    hive_dir = short_tmpdir()
    with ExitStack() as late:
        timer = threading.Timer(0.5, lambda: late.enter_context(
            warm_server(h.agent_sock("alice"), hive_dir)))
        timer.start()
        try:
            _, result = list_and_send(hive_dir, "after a slow start")
        finally:
            timer.join()
        assert not result.is_error and inbox(h)[0]["body"] == "after a slow start"


def test_the_relay_gives_up_with_a_sentence_when_nothing_listens(capsys):
    hive_dir = short_tmpdir()
    rc = mcprelay.run(settings.load({"HYPERHIVE_HIVE_DIR": str(hive_dir)}).hive_dir, wait=0.2)
    assert rc == 1
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"hyperhive mcp: the agent's MCP server is not answering on "
                           f"{hive_dir}/mcp-tools.sock after 0.2 s")
    assert line.endswith("is its harness running?")


def warm_pids(hive_dir):
    """The warm servers running for `hive_dir`, by their command lines."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"--listen-fd" in argv and str(hive_dir).encode() in argv:
            pids.append(int(entry.name))
    return pids


def test_the_harness_starts_its_warm_server_again_when_it_dies(host_with_alice):
    h = host_with_alice
    hive_dir = h.root / "run" / "agents" / "alice"
    wait_for(lambda: len(warm_pids(hive_dir)) == 1, timeout=20, what="alice's warm server")
    first = warm_pids(hive_dir)[0]
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: warm_pids(hive_dir) and warm_pids(hive_dir) != [first], timeout=20,
             what="a new warm server")
    _, result = list_and_send(hive_dir, "after a restart")
    assert not result.is_error and inbox(h)[0]["body"] == "after a restart"


def test_the_warm_socket_is_closed_to_everyone_else(host_with_alice):
    """Only the harness's uid and claude's group may connect (the uid attacks run it)."""
    path = Path(mcprelay.socket_path(str(host_with_alice.root / "run" / "agents" / "alice")))
    wait_for(path.exists, what="alice's warm socket")
    assert path.stat().st_mode & 0o777 in (0o600, 0o660)
    assert path.stat().st_uid == os.geteuid()


# The real claude CLI #########################################################

def test_real_claude_reads_the_text_through_the_relay(host_with_alice, tmp_path):
    claude = find_claude()
    if not os.access(claude, os.X_OK):
        pytest.skip(f"no claude binary at {claude}")
    h = host_with_alice
    with warm_server(h.agent_sock("alice")) as (hive_dir, _):
        out, err, rc = _claude_reports_in(claude, hive_dir, tmp_path)
    assert rc == 0, err
    results = [b for line in out.splitlines() if line.startswith("{")
               for e in [json.loads(line)] if e.get("type") == "user"
               for b in e["message"]["content"] if b.get("type") == "tool_result"]
    mid = inbox(h)[0]["id"]
    assert results[0]["content"] == [{"type": "text",
                                      "text": f"sent to operator (message #{mid})"}]
    assert not results[0].get("is_error")
    assert results[1]["is_error"] is True
    assert "there is no agent named 'ghost'" in json.dumps(results[1]["content"])


def _claude_reports_in(claude, hive_dir, tmp_path):
    """claude -p with our relay as its MCP server: two sends, one refused."""
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"hyperhive": {
        "command": PYTHON, "args": [ENTRY, "mcp", "--hive-dir", str(hive_dir)],
        "env": {"PATH": os.environ["PATH"]}}}}))
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"permissions": {"allow": ["mcp__hyperhive"],
                                                    "defaultMode": "dontAsk"},
                                    "autoCompactEnabled": False}))
    (tmp_path / "home").mkdir()
    with Stub() as stub:
        stub.add_rule(r"report in", [
            {"tools": [{"name": "mcp__hyperhive__send",
                        "input": {"to": "operator", "body": "reporting in"}},
                       {"name": "mcp__hyperhive__send", "input": {"to": "ghost", "body": "x"}}]},
            {"text": "done"}])
        proc = subprocess.Popen(
            [claude, "-p", "--output-format", "stream-json", "--verbose", "--model", "haiku",
             "--settings", str(settings), "--mcp-config", str(config), "--strict-mcp-config"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=tmp_path, env=claude_env(stub, tmp_path / "home"), start_new_session=True)
        try:
            out, err = proc.communicate("report in", timeout=60)
        finally:
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            proc.wait()
    return out, err, proc.returncode


def test_a_parked_recv_ends_with_its_session_and_takes_nothing(host_with_alice):
    """claude's turn ends during a long recv: what arrives later stays in the inbox."""
    h = host_with_alice
    with warm_server(h.agent_sock("alice")) as (hive_dir, server):
        proc, rpc, _ = relay_session(hive_dir, stderr=subprocess.DEVNULL)
        try:
            rpc.write({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                       "params": {"name": "recv", "arguments": {"wait_seconds": 30}}})
            time.sleep(0.5)             # the recv is parked at the host
        finally:
            proc.kill()
            proc.wait()
            proc.stdin.close()
            proc.stdout.close()
        time.sleep(0.5)
        sent = h.admin("send", to="alice", body="for the next turn")["id"]
        got = h.agent("alice", "recv", wait_seconds=5)["messages"]
        assert [m["id"] for m in got] == [sent]
        assert server.poll() is None
