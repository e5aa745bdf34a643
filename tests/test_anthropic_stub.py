"""The real claude CLI against the scripted Messages API in anthropic_stub.py.

Each test starts claude in its own process group with a throwaway HOME and cwd, feeds the
prompt on stdin and reads the stream-json it prints. Whatever happens, the group is killed
before the test returns.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

try:
    from anthropic_stub import Stub, claude_env, find_claude
except ImportError:  # tests/ imported as a package
    from tests.anthropic_stub import Stub, claude_env, find_claude

CLAUDE = find_claude()
ECHO_MCP = Path(__file__).resolve().parent / "data" / "echo_mcp.py"
SETTINGS = {"permissions": {"allow": ["mcp__echo"], "defaultMode": "dontAsk"}, "autoCompactEnabled": False}

needs_claude = pytest.mark.skipif(not os.access(CLAUDE, os.X_OK), reason=f"no claude binary at {CLAUDE}")


@dataclass
class Run:
    rc: int
    events: list[dict]
    stderr: str
    seconds: float
    lines: list[str] = field(default_factory=list)

    def of(self, type_: str, subtype: str | None = None) -> list[dict]:
        return [e for e in self.events if e.get("type") == type_
                and (subtype is None or e.get("subtype") == subtype)]

    @property
    def result(self) -> dict | None:
        results = self.of("result")
        return results[-1] if results else None

    @property
    def session_id(self) -> str:
        return self.events[-1]["session_id"]

    def blocks(self, type_: str, block_type: str) -> list[dict]:
        out = []
        for e in self.of(type_):
            content = e["message"]["content"]
            if isinstance(content, list):
                out += [b for b in content if b.get("type") == block_type]
        return out


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill claude and anything it left in its process group (MCP servers), then reap claude."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _parse(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    home, cwd = tmp_path / "home", tmp_path / "work"
    home.mkdir(exist_ok=True)
    cwd.mkdir(exist_ok=True)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(SETTINGS))
    return home, cwd, settings


def _argv(settings: Path, extra: tuple[str, ...]) -> list[str]:
    return [CLAUDE, "-p", "--output-format", "stream-json", "--verbose", "--model", "haiku",
            "--settings", str(settings), *extra]


def run_claude(stub: Stub, tmp_path: Path, prompt: str, *extra: str, env: dict | None = None,
               timeout: float = 30) -> Run:
    home, cwd, settings = _setup(tmp_path)
    environ = claude_env(stub, home)
    environ.update(env or {})
    started = time.monotonic()
    proc = subprocess.Popen(_argv(settings, extra), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd, env=environ, start_new_session=True)
    try:
        out, err = proc.communicate(prompt, timeout=timeout)
    finally:
        _kill_group(proc)
    return Run(proc.returncode, _parse(out), err, time.monotonic() - started, out.splitlines())


def mcp_config(tmp_path: Path) -> Path:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {"echo": {"command": sys.executable, "args": [str(ECHO_MCP)]}}}))
    return path


@pytest.fixture
def stub():
    with Stub() as s:
        yield s
    assert not s.unknown_paths, s.unknown_paths


# ---------------------------------------------------------------- the stub on its own

def _post(stub: Stub, path: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(stub.url + path, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _body(text, system="", tools=("Bash",), stream=False, messages=None):
    msgs = messages or [{"role": "user", "content": [{"type": "text", "text": text}]}]
    return {"model": "claude-haiku-5-5", "system": [{"type": "text", "text": system}], "stream": stream,
            "tools": [{"name": t, "input_schema": {"type": "object"}} for t in tools], "messages": msgs}


def test_rules_without_claude(stub):
    stub.add_rule(r"hello", [{"text": "hi bob"}], agent="bob")
    stub.add_rule(r"hello", [{"text": "hi once"}], times=1)
    stub.add_rule(r"work", [{"text": "working", "tool": "mcp__echo__echo", "input": {"text": "x"}},
                            {"error": 529}])
    stub.add_rule(r"boom", [{"error": 400, "kind": "prompt_too_long"}])

    status, msg = _post(stub, "/v1/messages", _body("hello", system="You are agent `bob`."))
    assert status == 200 and msg["content"] == [{"type": "text", "text": "hi bob"}]
    assert msg["stop_reason"] == "end_turn"
    # "bob" must be a whole word of the system prompt; the second rule fires only once.
    assert _post(stub, "/v1/messages", _body("hello", system="agent `bobby`"))[1]["content"][0]["text"] == "hi once"
    assert _post(stub, "/v1/messages", _body("hello"))[1]["content"][0]["text"] == "ok"
    # Requests without tools are auxiliary and never match rules.
    assert _post(stub, "/v1/messages", _body("hello", system="agent bob", tools=()))[1]["content"][0]["text"] == "ok"

    status, msg = _post(stub, "/v1/messages", _body("do work"))
    assert msg["stop_reason"] == "tool_use"
    tool_use = msg["content"][1]
    assert tool_use["name"] == "mcp__echo__echo" and tool_use["input"] == {"text": "x"}
    follow = [{"role": "user", "content": "do work"}, {"role": "assistant", "content": msg["content"]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "x"}]},
              {"role": "system", "content": [{"type": "text", "text": "budget"}]}]
    status, err = _post(stub, "/v1/messages", _body("", messages=follow))
    assert status == 529 and err["error"]["type"] == "overloaded_error"

    status, err = _post(stub, "/v1/messages?beta=true", _body("boom"))
    assert (status, err["type"], err["error"]) == (400, "error", {
        "type": "invalid_request_error", "message": "prompt is too long: 250123 tokens > 200000 maximum"})

    assert _post(stub, "/v1/messages/count_tokens", _body("x"))[1]["input_tokens"] > 0
    with urllib.request.urlopen(stub.url + "/v1/models", timeout=5) as resp:
        assert json.loads(resp.read())["data"]
    assert _post(stub, "/v1/nothing", {})[0] == 404
    assert stub.unknown_paths == ["POST /v1/nothing"]
    stub.unknown_paths.clear()

    kinds = [(r["kind"], r.get("has_tool_result")) for r in stub.requests]
    assert kinds[:6] == [("prompt", False)] * 3 + [("aux", False), ("prompt", False), ("prompt", True)]
    assert stub.wait_for(lambda r: r.get("last_user_text") == "boom", timeout=1)["rule"] == "boom"


def _post_headers(stub: Stub, text: str) -> tuple[int, dict, dict]:
    req = urllib.request.Request(stub.url + "/v1/messages", data=json.dumps(_body(text)).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers.items()), json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers.items()), json.loads(e.read())


def test_a_rate_limit_step_sends_the_headers_of_its_plan(stub):
    reset = int(time.time()) + 3600
    stub.add_rule("key", [{"error": 429, "limit": {"plan": "api", "reset_at": reset}}])
    stub.add_rule("login", [{"error": 429, "limit": {"plan": "subscription", "reset_at": reset,
                                                     "window": "seven_day"}}])
    stub.add_rule("near", [{"text": "hi", "limit": {"plan": "subscription", "reset_in": 60,
                                                    "status": "allowed_warning"},
                            "headers": {"x-extra": "1"}}])

    status, headers, body = _post_headers(stub, "key")
    assert status == 429 and body["error"]["type"] == "rate_limit_error"
    assert 3590 <= int(headers["retry-after"]) <= 3600
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-tokens-reset"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(reset))
    assert not any(k.startswith("anthropic-ratelimit-unified") for k in headers)

    status, headers, body = _post_headers(stub, "login")
    assert status == 429 and "account's rate limit" in body["error"]["message"]
    assert headers["anthropic-ratelimit-unified-status"] == "rejected"
    assert headers["anthropic-ratelimit-unified-reset"] == str(reset)
    assert headers["anthropic-ratelimit-unified-representative-claim"] == "seven_day"
    assert (headers["anthropic-ratelimit-unified-7d-status"], headers["anthropic-ratelimit-unified-5h-status"]) == (
        "rejected", "allowed")
    assert headers["anthropic-ratelimit-unified-7d-reset"] == str(reset)

    status, headers, body = _post_headers(stub, "near")
    assert status == 200 and body["content"][0]["text"] == "hi" and headers["x-extra"] == "1"
    assert headers["anthropic-ratelimit-unified-status"] == "allowed_warning" and "retry-after" not in headers


def test_stream_wire_format(stub):
    stub.add_rule("go", [{"text": "Checking.", "tool": "t", "input": {"a": [1, 2]},
                          "usage": {"input_tokens": 3, "output_tokens": 4}}])
    req = urllib.request.Request(stub.url + "/v1/messages?beta=true", data=json.dumps(_body("go", stream=True)).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = resp.read().decode()
    events = [json.loads(chunk.split("data: ", 1)[1]) for chunk in raw.strip().split("\n\n")]
    assert [e["type"] for e in events] == [
        "message_start", "ping", "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert events[5]["content_block"]["type"] == "tool_use"
    assert json.loads(events[6]["delta"]["partial_json"]) == {"a": [1, 2]}
    assert events[8]["delta"]["stop_reason"] == "tool_use"
    assert events[8]["usage"]["output_tokens"] == 4 and events[0]["message"]["usage"]["input_tokens"] == 3


# ---------------------------------------------------------------- the real claude

@needs_claude
def test_text_turn(stub, tmp_path):
    usage = {"input_tokens": 123, "output_tokens": 45, "cache_read_input_tokens": 6,
             "cache_creation_input_tokens": 7}
    stub.add_rule(r"say hello", [{"text": "Hello there!", "usage": usage}])
    run = run_claude(stub, tmp_path, "say hello")
    assert run.rc == 0, run.stderr
    assert run.of("system", "init")[0]["apiKeySource"] == "ANTHROPIC_API_KEY"
    assert [b["text"] for b in run.blocks("assistant", "text")] == ["Hello there!"]
    r = run.result
    assert (r["subtype"], r["is_error"], r["result"], r["num_turns"], r["terminal_reason"]) == (
        "success", False, "Hello there!", 1, "completed")
    assert {k: r["usage"][k] for k in usage} == usage
    [req] = stub.requests
    assert req["path"] == "/v1/messages?beta=true" and req["stream"] and req["kind"] == "prompt"
    assert req["last_user_text"] == "say hello" and req["rule"] == "say hello"
    assert req["model"] in r["modelUsage"]


@needs_claude
def test_tool_turn_through_mcp(stub, tmp_path):
    stub.add_rule(r"please echo", [
        {"text": "Calling echo.", "tool": "mcp__echo__echo", "input": {"text": "ping"}},
        {"text": "Echo said ping."},
    ])
    run = run_claude(stub, tmp_path, "please echo", "--mcp-config", str(mcp_config(tmp_path)),
                     "--strict-mcp-config")
    assert run.rc == 0, run.stderr
    init = run.of("system", "init")[0]
    assert {"name": "echo", "status": "connected", "source": "dynamic"} in init["mcp_servers"]
    [use] = run.blocks("assistant", "tool_use")
    assert (use["name"], use["input"]) == ("mcp__echo__echo", {"text": "ping"})
    [res] = run.blocks("user", "tool_result")
    assert res["tool_use_id"] == use["id"] and not res.get("is_error")
    assert res["content"] == [{"type": "text", "text": "echo: ping"}]
    r = run.result
    assert (r["subtype"], r["is_error"], r["num_turns"], r["result"]) == ("success", False, 2, "Echo said ping.")
    first, second = stub.main_requests()
    assert "mcp__echo__echo" in first["deferred_tool_names"] + first["tool_names"]
    assert second["has_tool_result"] and second["tool_result_ids"] == [use["id"]] and second["step"] == 1


@needs_claude
def test_prompt_too_long(stub, tmp_path):
    stub.add_rule(r"huge", [{"error": 400, "kind": "prompt_too_long"}])
    run = run_claude(stub, tmp_path, "a huge prompt")
    assert run.rc == 1
    [synthetic] = run.of("assistant")
    assert synthetic["message"]["model"] == "<synthetic>"
    assert (synthetic["error"], synthetic["api_error_status"], synthetic["is_api_error_message"]) == (
        "invalid_request", 400, True)
    r = run.result
    assert (r["subtype"], r["is_error"], r["terminal_reason"], r["api_error_status"]) == (
        "success", True, "prompt_too_long", 400)
    assert r["result"].startswith("Prompt is too long")


@needs_claude
@pytest.mark.parametrize("status, error, api_error_type, text", [
    (429, "rate_limit", "rate_limit_error", "API Error: Request rejected (429)"),
    (529, "server_error", "overloaded_error", "API Error: 529 Overloaded"),
    (401, "authentication_failed", "authentication_error", "Invalid API key"),
    (500, "server_error", "api_error", "API Error: 500 Internal server error"),
])
def test_api_error_fails_fast(stub, tmp_path, status, error, api_error_type, text):
    stub.add_rule(r"go", [{"error": status}])
    run = run_claude(stub, tmp_path, "go")
    assert run.rc == 1
    assert len(stub.main_requests()) == 1, "CLAUDE_CODE_MAX_RETRIES=0 must stop retries"
    assert not run.of("system", "api_retry")
    [synthetic] = run.of("assistant")
    assert (synthetic["error"], synthetic["api_error_status"], synthetic["api_error_type"]) == (
        error, status, api_error_type)
    r = run.result
    assert (r["subtype"], r["is_error"], r["terminal_reason"], r["api_error_status"], r["api_error_type"]) == (
        "success", True, "api_error", status, api_error_type)
    assert r["result"].startswith(text)
    assert run.seconds < 10


@needs_claude
def test_a_subscription_rate_limit_prints_its_reset_time(stub, tmp_path):
    reset = int(time.time()) + 3600
    stub.add_rule(r"go", [{"error": 429, "limit": {"plan": "subscription", "reset_at": reset}}])
    run = run_claude(stub, tmp_path, "go", env={"ANTHROPIC_API_KEY": "", "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-t"})
    assert run.rc == 1, run.stderr
    [event] = run.of("rate_limit_event")
    info = event["rate_limit_info"]
    assert (info["status"], info["resetsAt"], info["rateLimitType"]) == ("rejected", reset, "five_hour")
    [synthetic] = run.of("assistant")
    assert (synthetic["error"], synthetic["api_error_status"]) == ("rate_limit", 429)
    assert synthetic["api_error_params"]["rate_limit_info"]["resetsAt"] == reset
    assert run.result["is_error"] and run.result["api_error_status"] == 429


@needs_claude
def test_retry_then_recover(stub, tmp_path):
    stub.add_rule(r"go", [{"error": 529}], times=1)
    stub.add_rule(r"go", [{"text": "recovered"}])
    run = run_claude(stub, tmp_path, "go", env={"CLAUDE_CODE_MAX_RETRIES": "1"})
    assert run.rc == 0, run.stderr
    [retry] = run.of("system", "api_retry")
    assert (retry["error_status"], retry["error"], retry["max_retries"]) == (529, "overloaded", 1)
    assert run.result["result"] == "recovered" and len(stub.main_requests()) == 2


@needs_claude
def test_compact_resumed_session(stub, tmp_path):
    stub.add_rule(r"say hello", [{"text": "Hello there!"}])
    first = run_claude(stub, tmp_path, "say hello")
    assert first.rc == 0, first.stderr
    run = run_claude(stub, tmp_path, "/compact", f"--resume={first.session_id}")
    assert run.rc == 0, run.stderr
    statuses = [(e.get("status"), e.get("compact_result")) for e in run.of("system", "status")]
    assert statuses == [("compacting", None), (None, "success")]
    assert run.of("system", "compact_boundary")[0]["compact_metadata"]["trigger"] == "manual"
    r = run.result
    assert (r["subtype"], r["is_error"], r["num_turns"], r["session_id"]) == (
        "success", False, 0, first.session_id)
    compact = stub.requests[-1]
    assert compact["kind"] == "compact" and compact["rule"] is None and compact["tool_names"]

    again = run_claude(stub, tmp_path, "say hello again", f"--resume={first.session_id}")
    assert again.rc == 0 and again.result["result"] == "Hello there!"


@needs_claude
def test_compact_failure_is_not_an_error_result(stub, tmp_path):
    stub.add_rule(r"say hello", [{"text": "Hello there!"}])
    stub.add_rule(r"keep the open threads", [{"error": 400, "kind": "prompt_too_long"}], kind="compact")
    first = run_claude(stub, tmp_path, "say hello")
    run = run_claude(stub, tmp_path, "/compact keep the open threads", f"--resume={first.session_id}")
    assert run.rc == 0, run.stderr
    failed = [e for e in run.of("system", "status") if e.get("compact_result") == "failed"]
    assert failed and failed[0]["compact_error"].startswith("Compaction failed")
    r = run.result
    assert (r["is_error"], r["num_turns"]) == (False, 0) and r["result"].startswith("Compaction failed")
    assert stub.requests[-1]["kind"] == "compact" and stub.requests[-1]["rule"] == "keep the open threads"


@needs_claude
def test_sigint_while_waiting_for_model(stub, tmp_path):
    stub.add_rule(r"be slow", [{"text": "late", "delay": 30}])
    home, cwd, settings = _setup(tmp_path)
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("be slow")
    with prompt.open() as stdin:
        proc = subprocess.Popen(_argv(settings, ()), stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=cwd, env=claude_env(stub, home),
                                start_new_session=True)
    try:
        stub.wait_for(lambda r: r["kind"] == "prompt", timeout=20)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, _ = proc.communicate(timeout=10)
        waited = time.monotonic() - sent
    finally:
        _kill_group(proc)
    assert proc.returncode == 0
    assert waited < 5
    events = _parse(out)
    interrupted = [e for e in events if e.get("type") == "user"
                   and e["message"]["content"] == [{"type": "text", "text": "[Request interrupted by user]"}]]
    assert interrupted
    assert not [e for e in events if e.get("type") == "assistant"]
    # Usually no result at all; sometimes claude manages to print an aborted one first.
    for r in (e for e in events if e.get("type") == "result"):
        assert (r["is_error"], r["terminal_reason"]) == (True, "aborted_streaming")
