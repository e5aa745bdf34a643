"""ClaudeTurn and friends against tests/fake_claude.py, a stand-in for the claude CLI."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hyperhive.claude import (
    ClaudeTurn,
    build_argv,
    compact_argv,
    run_compact,
    run_plugin_command,
)

HERE = Path(__file__).parent
FAKE = str(HERE / "fake_claude.py")
RECORDINGS = HERE / "recordings"


class Fake:
    """A scenario for the fake claude, its state dir and a hive dir with the three files."""

    def __init__(self, root):
        self.root = root
        self.state = root / "state"
        self.hive = root / "hive"
        self.cwd = root / "cwd"
        for folder in (self.state, self.hive, self.cwd):
            folder.mkdir()
        self.scenarios = 0
        self.write_hive_files()
        self.scenario([{"steps": [{"text": "ok"}]}])

    def write_hive_files(self, command=sys.executable, args=("-c", "pass")):
        servers = {"hyperhive": {"command": command, "args": list(args)}}
        (self.hive / "claude-mcp-config.json").write_text(json.dumps({"mcpServers": servers}))
        settings = {"permissions": {"defaultMode": "dontAsk"}, "autoCompactEnabled": False}
        (self.hive / "claude-settings.json").write_text(json.dumps(settings))
        (self.hive / "claude-system-prompt.md").write_text("You are a test agent.\n")

    def scenario(self, turns, **top):
        # A new file each time: the fake keeps its turn cursor per scenario file.
        self.scenarios += 1
        self.scenario_path = self.root / f"scenario-{self.scenarios}.json"
        self.scenario_path.write_text(json.dumps({"turns": turns, **top}))

    @property
    def env(self):
        return dict(
            os.environ,
            FAKE_CLAUDE_SCENARIO=str(self.scenario_path),
            FAKE_CLAUDE_STATE=str(self.state),
        )

    def argv(self, session_id=None, **options):
        return build_argv(FAKE, "haiku", session_id, hive_dir=str(self.hive), **options)

    def turn(self, prompt="wake up", session_id=None, **kwargs):
        return ClaudeTurn(self.argv(session_id), prompt, str(self.cwd), self.env, **kwargs)

    def invocations(self):
        lines = (self.state / "invocations.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def session(self, session_id):
        return json.loads((self.state / "sessions" / f"{session_id}.json").read_text())


@pytest.fixture
def fake(tmp_path):
    return Fake(tmp_path)


OK_TURN = {
    "mcp_tools": {"hyperhive": ["recv", "send"]},
    "steps": [
        {"text": "Checking inbox."},
        {"tool": "mcp__hyperhive__send", "input": {"to": "manager", "body": "hi"},
         "result": "sent"},
        {"tool": "Read", "input": {"file_path": "/state/notes.md"}, "result": "notes"},
        {"tool": "mcp__hyperhive__send", "input": {"to": "alice", "body": "yo"},
         "result": "sent"},
        {"text": "Done.", "usage": {"input_tokens": 1200, "cache_read_input_tokens": 9000},
         "cost_usd": 0.01},
    ],
}


def test_build_argv_is_the_spec_command_line():
    assert build_argv("claude", "haiku") == [
        "claude", "-p", "--output-format", "stream-json", "--verbose", "--model", "haiku",
        "--mcp-config", "/run/hive/claude-mcp-config.json", "--strict-mcp-config",
        "--settings", "/run/hive/claude-settings.json", "--setting-sources", "",
        "--system-prompt-file", "/run/hive/claude-system-prompt.md",
        "--tools", "Bash,Edit,Glob,Grep,Read,Write",
        "--allowedTools", "Bash,mcp__hyperhive",
    ]
    argv = build_argv(
        "/bin/claude", "sonnet", "abc-123", hive_dir="/h", builtins=("Read",),
        allowed=("Read(//state/**)", "mcp__hyperhive", "mcp__plugin_x_y"),
    )
    assert argv == [
        "/bin/claude", "-p", "--output-format", "stream-json", "--verbose", "--model", "sonnet",
        "--resume=abc-123", "--mcp-config", "/h/claude-mcp-config.json", "--strict-mcp-config",
        "--settings", "/h/claude-settings.json", "--setting-sources", "",
        "--system-prompt-file", "/h/claude-system-prompt.md", "--tools", "Read",
        "--allowedTools", "Read(//state/**),mcp__hyperhive,mcp__plugin_x_y",
    ]
    assert compact_argv("claude", "haiku", "sid") == build_argv("claude", "haiku", "sid")


def test_ok_turn_with_tool_counts_usage_and_cost(fake):
    fake.scenario([OK_TURN])
    events = []
    result = fake.turn(on_event=events.append).run()
    assert (result.outcome, result.note, result.rc) == ("ok", "", 0)
    assert result.tool_calls == {"mcp__hyperhive__send": 2, "Read": 1}
    assert result.usage == {
        "input_tokens": 11 * 3 + 1200,
        "output_tokens": 7 * 4,
        "cache_read_input_tokens": 100 * 3 + 9000,
        "cache_creation_input_tokens": 50 * 4,
    }
    assert result.total_cost_usd == pytest.approx(0.0003555 * 3 + 0.01)
    assert result.ctx_tokens == 1200 + 9000 + 50
    assert result.result_text == "Done."
    assert result.mcp_connected
    assert result.stderr_tail == []
    assert events[0]["type"] == "system" and events[-1]["type"] == "result"
    (call,) = fake.invocations()
    assert call["argv"] == fake.argv()[1:]
    assert call["prompt"] == "wake up"
    assert call["cwd"] == str(fake.cwd)
    assert call["session_id"] == result.session_id


def test_resume_keeps_the_session_and_the_cost_is_cumulative(fake):
    fake.scenario([{"steps": [{"text": "one"}]}, {"steps": [{"text": "two"}]}])
    first = fake.turn().run()
    second = fake.turn(session_id=first.session_id).run()
    assert second.outcome == "ok" and second.session_id == first.session_id
    assert second.total_cost_usd == pytest.approx(2 * first.total_cost_usd)
    assert f"--resume={first.session_id}" in fake.invocations()[1]["argv"]


def test_prompt_too_long_then_compact_then_retry(fake):
    fake.scenario([
        {"steps": [{"text": "hello"}]},
        {"steps": [{"api_error": {"status": 400, "kind": "prompt_too_long"}}]},
        {"steps": [{"text": "fits again"}]},
    ])
    sid = fake.turn().run().session_id
    too_long = fake.turn(session_id=sid).run()
    assert (too_long.outcome, too_long.rc) == ("prompt_too_long", 1)
    assert too_long.note == "Prompt is too long"
    compacted = run_compact(compact_argv(FAKE, "haiku", sid, hive_dir=str(fake.hive)),
                            str(fake.cwd), fake.env)
    assert compacted.outcome == "ok" and compacted.session_id == sid
    assert fake.session(sid)["compactions"] == 1
    assert fake.invocations()[2]["prompt"] == "/compact"
    retried = fake.turn(session_id=sid).run()
    assert (retried.outcome, retried.result_text) == ("ok", "fits again")


def test_failed_compaction_is_failed(fake):
    fake.scenario([{"steps": [{"text": "hello"}]}], compact_result="failed")
    sid = fake.turn().run().session_id
    compacted = run_compact(compact_argv(FAKE, "haiku", sid, hive_dir=str(fake.hive)),
                            str(fake.cwd), fake.env)
    assert compacted.outcome == "failed"
    assert "exhausted" in compacted.note


def test_compacting_an_unknown_session_fails(fake):
    argv = compact_argv(FAKE, "haiku", "11111111-2222-3333-4444-555555555555",
                        hive_dir=str(fake.hive))
    result = run_compact(argv, str(fake.cwd), fake.env)
    assert result.outcome == "failed"
    assert result.note.startswith("No conversation found with session ID")


def test_crash_keeps_the_last_twenty_stderr_lines(fake):
    steps = [{"text": "partial"}] + [{"stderr": f"line {i}"} for i in range(25)] + [{"exit": 2}]
    fake.scenario([{"steps": steps}])
    seen = []
    result = fake.turn(on_stderr=seen.append).run()
    assert (result.outcome, result.rc) == ("failed", 2)
    assert result.stderr_tail == [f"line {i}" for i in range(5, 25)]
    assert seen == [f"line {i}" for i in range(25)]
    assert result.note == "claude exited with code 2 without a result. Last stderr line: line 24"
    assert result.session_id is not None


def test_error_result_step(fake):
    fake.scenario([{"steps": [{"result_error": "error_during_execution", "errors": ["boom"]}]}])
    result = fake.turn().run()
    assert (result.outcome, result.note, result.rc) == ("failed", "boom", 1)


@pytest.mark.parametrize(
    "api_error, outcome",
    [
        ({"status": 429}, "rate_limited"),
        ({"status": 401, "retries": 2}, "auth_failed"),
        ({"status": 529, "message": "Overloaded", "error": "overloaded"}, "failed"),
    ],
)
def test_api_errors(fake, api_error, outcome):
    fake.scenario([{"steps": [{"api_error": api_error}]}])
    result = fake.turn().run()
    assert (result.outcome, result.rc) == (outcome, 1)
    assert result.note.startswith(f"API Error: {api_error['status']}")


def test_hyperhive_server_not_connected_fails_the_turn(fake):
    fake.scenario([{"mcp_status": {"hyperhive": "failed"}, "steps": [{"text": "hi"}]}])
    result = fake.turn().run()
    assert result.outcome == "failed" and not result.mcp_connected
    assert "hyperhive MCP server was failed" in result.note


def run_in_thread(turn):
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=turn.run()))
    thread.start()
    return thread, box


def cancel_after_first_event(fake, scenario_turn, kind, record=None):
    """Cancel once the first `kind` event arrives; (result, seconds from cancel to end)."""
    fake.scenario([scenario_turn])
    seen = threading.Event()

    def on_event(event):
        if record is not None:
            record(event)
        if event.get("type") == kind:
            seen.set()

    turn = fake.turn(on_event=on_event)
    thread, box = run_in_thread(turn)
    assert seen.wait(10)
    cancelled_at = time.monotonic()
    turn.cancel()
    thread.join(10)
    return box["result"], time.monotonic() - cancelled_at


def test_cancel_while_waiting_for_the_model(fake):
    slow = {"steps": [{"text": "thinking"}, {"sleep": 30}, {"text": "late"}]}
    result, took = cancel_after_first_event(fake, slow, "assistant")
    assert took < 2
    assert (result.outcome, result.rc) == ("cancelled", 0)
    assert result.note == "Cancelled by the operator."


def test_cancel_inside_a_tool(fake):
    slow_tool = {"steps": [{"tool": "mcp__hyperhive__recv", "input": {}, "result": "x",
                            "tool_sleep": 30}]}
    result, took = cancel_after_first_event(fake, slow_tool, "assistant")
    assert took < 2
    assert (result.outcome, result.rc) == ("cancelled", 0)
    assert result.tool_calls == {"mcp__hyperhive__recv": 1}


def test_cancel_before_start_interrupts_at_once(fake):
    fake.scenario([{"steps": [{"sleep": 30}]}])
    turn = fake.turn()
    turn.cancel()
    started = time.monotonic()
    assert turn.run().outcome == "cancelled"
    assert time.monotonic() - started < 5


def test_sigkill_when_sigint_is_ignored(tmp_path):
    stubborn = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "print('{\"type\": \"system\", \"subtype\": \"init\"}', flush=True)\n"
        "time.sleep(30)\n"
    )
    seen = threading.Event()
    turn = ClaudeTurn([sys.executable, "-c", stubborn], "", str(tmp_path),
                      on_event=lambda e: seen.set(), kill_after=0.3)
    thread, box = run_in_thread(turn)
    assert seen.wait(10)
    turn.cancel()
    thread.join(10)
    assert (box["result"].outcome, box["result"].rc) == ("cancelled", -9)


def test_missing_binary_is_a_failed_turn(tmp_path):
    missing = tmp_path / "no-claude"
    result = ClaudeTurn([str(missing), "-p"], "hi", str(tmp_path)).run()
    assert result.outcome == "failed"
    assert result.note == f"Could not start claude ({missing}): No such file or directory."
    assert result.rc is None


def test_binary_without_execute_permission_is_a_failed_turn(tmp_path):
    script = tmp_path / "claude"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    result = ClaudeTurn([str(script), "-p"], "hi", str(tmp_path)).run()
    assert result.outcome == "failed" and "Permission denied" in result.note


def test_callback_errors_do_not_break_the_turn(fake):
    def explode(_):
        raise RuntimeError("display broke")

    fake.scenario([OK_TURN])
    result = fake.turn(on_event=explode, on_stderr=explode).run()
    assert result.outcome == "ok"
    assert result.tool_calls["Read"] == 1


# The texts from startup-errors.txt, by the argv change that provokes them.
def startup_errors():
    texts = {}
    for line in (RECORDINGS / "startup-errors.txt").read_text().splitlines():
        name, _, rest = line.partition(": rc=1 stderr=")
        texts[name] = rest
    return texts


def test_startup_errors_match_the_real_cli(fake):
    texts = startup_errors()
    argv = fake.argv()
    without_verbose = [a for a in argv if a != "--verbose"]
    cases = [
        (without_verbose, "x", texts["noverbose"]),
        ([*argv, "--no-such-flag"], "x", texts["badflag"]),
        (argv, "", texts["noprompt"]),
    ]
    if os.geteuid() == 0:
        cases.append(([*argv, "--dangerously-skip-permissions"], "x", texts["root"]))
    env = {k: v for k, v in fake.env.items() if k != "IS_SANDBOX"}
    for args, prompt, expected in cases:
        result = ClaudeTurn(args, prompt, str(fake.cwd), env).run()
        assert (result.outcome, result.rc) == ("failed", 1)
        assert result.stderr_tail == [expected]
        assert result.note.endswith(f"Last stderr line: {expected}")


def test_session_id_in_use_matches_the_real_cli(fake):
    sid = fake.turn().run().session_id
    result = ClaudeTurn([*fake.argv(), f"--session-id={sid}"], "x", str(fake.cwd),
                        fake.env).run()
    expected = startup_errors()["sidconflict"].replace(
        "29e72a8e-0ca3-45e5-8eb0-46910651c404", sid
    )
    assert result.stderr_tail == [expected]


def test_resume_of_an_unknown_session_matches_the_real_cli(fake):
    sid = "11111111-2222-3333-4444-555555555555"
    result = fake.turn(session_id=sid).run()
    assert (result.outcome, result.rc) == ("failed", 1)
    recorded = (RECORDINGS / "resume-unknown-session.stderr.txt").read_text().strip()
    assert result.stderr_tail == [recorded]
    assert result.note == f"No conversation found with session ID: {sid}"


def test_plugin_commands(fake):
    fake.scenario([], subcommand_stdout="✔ Successfully installed plugin: hive@local")
    rc, out, _ = run_plugin_command(FAKE, ["plugin", "install", "hive@local"], fake.env)
    assert (rc, out.strip()) == (0, "✔ Successfully installed plugin: hive@local")
    fake.scenario([], subcommand_stdout='✘ Plugin "hive" is already installed', subcommand_rc=1)
    assert run_plugin_command(FAKE, ["plugin", "install", "hive@local"], fake.env)[0] == 0
    fake.scenario([], subcommand_stdout="✘ Path does not exist: /nope", subcommand_rc=1)
    add = ["plugin", "marketplace", "add", "/nope"]
    assert run_plugin_command(FAKE, add, fake.env)[0] == 1
    assert [c["argv"] for c in fake.invocations()] == [
        ["plugin", "install", "hive@local"],
        ["plugin", "install", "hive@local"],
        ["plugin", "marketplace", "add", "/nope"],
    ]
    rc, _, err = run_plugin_command(str(fake.root / "missing"), ["plugin", "install", "x"], None)
    assert rc == 127 and "Could not start claude" in err


def test_plugin_command_timeout(tmp_path):
    rc, _, err = run_plugin_command("/bin/sleep", ["5"], None, timeout=0.2)
    assert rc == 124 and "timed out" in err


MCP_SERVER = """
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("hyperhive")

@mcp.tool(name="recv", description="Read the inbox.", structured_output=False)
def recv(wait_seconds: int = 0) -> str:
    return f"inbox empty after {wait_seconds} s"

mcp.run()
"""


def test_real_tool_call_through_a_real_mcp_server(fake):
    server = fake.root / "server.py"
    server.write_text(MCP_SERVER)
    fake.write_hive_files(sys.executable, [str(server)])
    call = {"tool": "mcp__hyperhive__recv", "input": {"wait_seconds": 0}, "call": True}
    fake.scenario([{"steps": [{"text": "Checking inbox."}, call, {"text": "Done."}]}])
    events = []
    result = fake.turn(on_event=events.append).run()
    assert result.outcome == "ok"
    (tool_result,) = [e for e in events if e["type"] == "user"]
    block = tool_result["message"]["content"][0]
    assert block["content"] == [{"type": "text", "text": "inbox empty after 0 s"}]
    assert "is_error" not in block


def test_works_under_gevent_monkey_patching(fake):
    """The harness runs under patch_all(): a turn and a cancel from another greenlet."""
    fake.scenario([
        {"steps": [{"text": "one"}]},
        {"steps": [{"text": "thinking"}, {"sleep": 30}]},
    ])
    script = f"""
from gevent import monkey
monkey.patch_all()
import gevent, json, sys
from hyperhive.claude import ClaudeTurn
argv, cwd = {fake.argv()!r}, {str(fake.cwd)!r}
ok = ClaudeTurn(argv, "hi", cwd).run()
turn = ClaudeTurn(argv, "hi", cwd, on_event=lambda e: e["type"] == "assistant" and
                  gevent.spawn(turn.cancel))
ticker = gevent.spawn(lambda: [gevent.sleep(0.01) for _ in range(10000)])
cancelled = turn.run()
ticker.kill()
print(json.dumps([ok.outcome, ok.result_text, cancelled.outcome, cancelled.duration_ms]))
"""
    out = subprocess.run([sys.executable, "-c", script], env=fake.env, cwd=HERE.parent,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    ok, text, cancelled, duration_ms = json.loads(out.stdout.strip().splitlines()[-1])
    assert (ok, text, cancelled) == ("ok", "one", "cancelled")
    assert duration_ms < 5000


def test_spawned_children_under_gevent(tmp_path):
    """Under patch_all() claude starts through posix_spawn: same errors, exit codes, cwd."""
    script = f"""
from gevent import monkey
monkey.patch_all()
import gevent, json, os, signal
from hyperhive import spawn
out = {{}}
env = dict(os.environ)
child = spawn.start(["/bin/sh", "-c", "pwd; read x; echo got $x; exit 3"], cwd={str(tmp_path)!r},
                    env=env)
out["kind"] = type(child).__name__
ticks = []
ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.005)) for _ in range(40)])
gevent.sleep(0.05)
child.stdin.write(b"ping\\n"); child.stdin.close()
out["stdout"] = child.stdout.read().decode()
out["rc"] = child.wait()
out["ticks"] = len(ticks)
sleeper = spawn.start(["sleep", "30"], env=env)
os.killpg(sleeper.pid, signal.SIGTERM)
out["killed"] = sleeper.wait()
for argv, cwd in ((["/no/such/claude"], None), (["/bin/true"], "/no/such/dir")):
    try:
        spawn.start(argv, cwd=cwd, env=env)
    except OSError as exc:
        out.setdefault("errors", []).append([type(exc).__name__, exc.filename])
out["cwd_after"] = os.getcwd()
print(json.dumps(out))
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=HERE.parent, capture_output=True,
                         text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["kind"] == "SpawnedChild"
    assert out["stdout"] == f"{tmp_path}\ngot ping\n" and out["rc"] == 3
    assert out["ticks"] >= 5, "the hub kept running while the child did"
    assert out["killed"] == -15
    assert out["errors"] == [["FileNotFoundError", "/no/such/claude"],
                             ["FileNotFoundError", "/no/such/dir"]]
    assert out["cwd_after"] == str(HERE.parent)


# ---- the fake's output keys must all exist in the real recordings

# Values whose keys are data (tool arguments, model names), not part of the format.
OPAQUE = {"input", "tool_input", "structuredContent", "modelUsage",
          "model_usage_since_last_result"}


def key_paths(value, prefix=""):
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            yield path
            if key not in OPAQUE:
                yield from key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            yield from key_paths(item, prefix + "[]")


def kind(event):
    if event.get("type") == "system":
        return f"system/{event.get('subtype')}"
    return event.get("type")


def keys_of(events):
    return {(kind(e), path) for e in events for path in key_paths(e)}


def test_fake_keys_are_a_subset_of_the_recorded_keys(fake):
    real = set()
    for path in RECORDINGS.glob("*.jsonl"):
        real |= keys_of(json.loads(line) for line in path.read_text().splitlines())
    emitted = []
    record = emitted.append

    def play(turn, session_id=None, prompt="go", argv=None, **top):
        fake.scenario([turn], **top)
        argv = argv or fake.argv(session_id)
        result = ClaudeTurn(argv, prompt, str(fake.cwd), fake.env, on_event=record).run()
        assert result.rc in (0, 1), result.stderr_tail
        return result

    sid = play(OK_TURN).session_id
    play({"steps": [
        {"tool": "WebFetch", "input": {"url": "x"}, "result": "no"},  # not in --tools
        {"tool": "mcp__hyperhive__send", "input": {}, "result": "refused", "is_error": True},
        {"text": "ok"},
    ]})
    denied_argv = [*fake.argv()[:-1], "Read"]  # hyperhive tools no longer pre-approved
    play({"steps": [{"tool": "mcp__hyperhive__send", "input": {}, "result": "x"}]},
         argv=denied_argv)
    too_long = {"api_error": {"status": 400, "kind": "prompt_too_long"}}
    play({"autocompact": True, "steps": [too_long]})
    play({"steps": [{"api_error": {"status": 529, "retries": 2, "error": "overloaded"}}]})
    play({"steps": [{"result_error": "error_during_execution", "errors": ["boom"]}]})
    play({"steps": [{"tool": "Read", "input": {}, "result": "r"}, {"text": "x"}]},
         argv=[*fake.argv(), "--max-turns", "1"])
    play({"steps": [{"text": "x"}]}, argv=[*fake.argv(), "-n", "hive-agent-7"])
    play({"steps": []}, session_id=sid, prompt="/compact")
    play({"steps": []}, session_id="11111111-2222-3333-4444-555555555555")
    for slow in ({"sleep": 30}, {"tool": "mcp__hyperhive__recv", "input": {}, "tool_sleep": 30}):
        result, _ = cancel_after_first_event(fake, {"steps": [{"text": "x"}, slow]}, "assistant",
                                             record)
        assert result.outcome == "cancelled"

    kinds = {kind(e) for e in emitted}
    assert kinds >= {
        "system/init", "assistant", "user", "result", "system/permission_denied",
        "system/api_retry", "system/status", "system/compact_boundary",
        "system/session_title_changed",
    }
    assert keys_of(emitted) - real == set()
