"""Run the claude CLI: one process per turn, /compact on a session, and plugin commands.

Plain `subprocess` and `threading` (and `spawn` for a turn's claude): under
`gevent.monkey.patch_all()` they become cooperative, and without it they still work
(tests, tools).
"""

import collections
import dataclasses
import logging
import os
import signal
import subprocess
import threading
import time

from hyperhive import permissions, spawn
from hyperhive.stream import TurnReader, classify

logger = logging.getLogger(__name__)

DEFAULT_HIVE_DIR = "/run/hive"
DEFAULT_BUILTINS = ("Bash", "Edit", "Glob", "Grep", "Read", "Write")
MCP_CONFIG_FILE = "claude-mcp-config.json"
SETTINGS_FILE = "claude-settings.json"
SYSTEM_PROMPT_FILE = "claude-system-prompt.md"
COMPACT_PROMPT = "/compact"
STDERR_LINES = 20
KILL_AFTER_SECONDS = 10.0
# Once claude has exited, its pipes reach EOF at once unless a process it left behind
# (a backgrounded shell command) still holds them; do not wait on that forever.
PIPE_DRAIN_SECONDS = 5.0
# `claude plugin …` output meaning the wanted state is already there. Re-running a
# marketplace add or a plugin install at every boot must not count as a failure.
ALREADY_DONE_MARKERS = ("already exists", "already installed")


def build_argv(
    claude_bin,
    model,
    session_id=None,
    hive_dir=DEFAULT_HIVE_DIR,
    builtins=DEFAULT_BUILTINS,
    allowed=None,
):
    """The command line of one turn (SPEC §4); the prompt goes to stdin.

    `allowed` is exactly the allow rules (permissions.allowed_rules; by default the
    built-ins' rules with no directory for the file tools).
    """
    if allowed is None:
        allowed = permissions.allowed_rules(builtins)
    argv = [claude_bin, "-p", "--output-format", "stream-json", "--verbose", "--model", model]
    if session_id:
        # The `=` form: --resume takes an optional value, so a separate word could be misread.
        argv.append(f"--resume={session_id}")
    argv += [
        "--mcp-config", os.path.join(hive_dir, MCP_CONFIG_FILE),
        "--strict-mcp-config",
        "--settings", os.path.join(hive_dir, SETTINGS_FILE),
        # No user, project or local settings file: claude can write those (its config
        # dir, .claude/ in its cwd) and would widen its own permissions for the next
        # turn. An empty list loads none of them (measured with claude 2.1.330).
        "--setting-sources", "",
        "--system-prompt-file", os.path.join(hive_dir, SYSTEM_PROMPT_FILE),
        "--tools", ",".join(builtins),
        "--allowedTools", ",".join(allowed),
    ]
    return argv


@dataclasses.dataclass
class TurnResult:
    outcome: str  # one of stream.OUTCOMES
    note: str
    session_id: str | None
    result_text: str | None
    usage: dict  # input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens
    total_cost_usd: float | None  # cumulative for the session, as claude reports it
    tool_calls: dict  # tool name -> count
    ctx_tokens: int
    stderr_tail: list
    rc: int | None  # negative: killed by that signal
    duration_ms: int
    mcp_connected: bool
    sends: dict = dataclasses.field(default_factory=dict)  # recipient class -> send calls
    rate_limit_reset: float | None = None  # when a refused rate limit lifts, if claude said


class ClaudeTurn:
    """One claude process: start, stream its events, cancel on request, classify the end.

    `on_event(event)` and `on_stderr(line)` run on reader threads (greenlets under gevent);
    an exception in them is logged and the turn goes on.
    """

    def __init__(
        self,
        argv,
        prompt,
        cwd,
        env=None,
        on_event=None,
        on_stderr=None,
        require_hyperhive=True,
        kill_after=KILL_AFTER_SECONDS,
    ):
        self.argv = list(argv)
        self.prompt = prompt
        self.cwd = cwd
        self.env = env
        self.on_event = on_event
        self.on_stderr = on_stderr
        self.require_hyperhive = require_hyperhive
        self.kill_after = kill_after
        self.reader = TurnReader()
        self.stderr_tail = collections.deque(maxlen=STDERR_LINES)
        self._lock = threading.Lock()
        self._proc = None
        self._signalled = False
        self._kill_timer = None
        self._finished = False

    @property
    def signalled(self):
        return self._signalled

    def run(self):
        started = time.monotonic()
        try:
            proc = self._start()
        except OSError as exc:
            return self._not_started(exc, started)
        readers = [
            _spawn(self._read_stdout, proc.stdout),
            _spawn(self._read_stderr, proc.stderr),
        ]
        _spawn(self._write_prompt, proc.stdin)
        rc = proc.wait()
        self._stop_kill_timer()
        for thread in readers:
            thread.join(PIPE_DRAIN_SECONDS)
            if thread.is_alive():
                logger.warning("claude exited but a leftover process still holds its output")
        self._finished = True
        return self._result(rc, started)

    def cancel(self):
        """Interrupt the turn (SIGINT to claude's process group); SIGKILL if it lingers."""
        with self._lock:
            self._signalled = True
            proc = self._proc
            if proc is None:
                return  # run() sends the signal as soon as the process exists
            self._interrupt(proc)

    def _start(self):
        # Its own session and process group, so a cancel reaches claude's MCP server and
        # tool children too.
        proc = spawn.start(self.argv, cwd=self.cwd, env=self.env)
        with self._lock:
            self._proc = proc
            if self._signalled:
                self._interrupt(proc)
        return proc

    def _interrupt(self, proc):
        if proc.poll() is not None:
            return
        _signal_group(proc, signal.SIGINT)
        if self._kill_timer is None:
            self._kill_timer = threading.Timer(self.kill_after, self._kill_if_running, (proc,))
            self._kill_timer.daemon = True
            self._kill_timer.start()

    def _kill_if_running(self, proc):
        if proc.poll() is None:
            logger.warning("claude ignored SIGINT for %g s; killing it", self.kill_after)
            _signal_group(proc, signal.SIGKILL)

    def _stop_kill_timer(self):
        with self._lock:
            if self._kill_timer is not None:
                self._kill_timer.cancel()

    def _write_prompt(self, stdin):
        try:
            stdin.write(self.prompt.encode("utf-8"))
        except OSError:
            pass  # claude exited before reading (a startup error); stderr says why
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _read_stdout(self, stdout):
        # readline() on the pipe has no length limit; init lines alone are ~10 KB.
        for raw in iter(stdout.readline, b""):
            event = self.reader.feed(raw)
            if event is not None and self.on_event is not None and not self._finished:
                _call_safely(self.on_event, event)
        stdout.close()

    def _read_stderr(self, stderr):
        for raw in iter(stderr.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self.stderr_tail.append(line)
            if self.on_stderr is not None and not self._finished:
                _call_safely(self.on_stderr, line)
        stderr.close()

    def _result(self, rc, started):
        reader = self.reader
        outcome, note = classify(reader, rc, self._signalled, self.require_hyperhive)
        stderr_tail = list(self.stderr_tail)
        if outcome == "failed" and reader.result is None and stderr_tail:
            note = f"{note} Last stderr line: {stderr_tail[-1][:200]}"
        result_text = (reader.result or {}).get("result")
        return TurnResult(
            outcome=outcome,
            note=note,
            session_id=reader.session_id,
            result_text=result_text if isinstance(result_text, str) else None,
            usage=reader.usage_totals(),
            total_cost_usd=reader.total_cost_usd,
            tool_calls=dict(reader.tool_calls),
            ctx_tokens=reader.ctx_tokens,
            stderr_tail=stderr_tail,
            rc=rc,
            duration_ms=_ms_since(started),
            mcp_connected=reader.hyperhive_connected,
            sends=dict(reader.sends),
            rate_limit_reset=reader.rate_limit_reset,
        )

    def _not_started(self, exc, started):
        where = f" ({exc.filename})" if exc.filename else ""
        note = f"Could not start claude{where}: {exc.strerror or exc}."
        logger.error("%s argv=%s", note, self.argv)
        return TurnResult(
            outcome="failed",
            note=note,
            session_id=None,
            result_text=None,
            usage=self.reader.usage_totals(),
            total_cost_usd=None,
            tool_calls={},
            ctx_tokens=0,
            stderr_tail=[],
            rc=None,
            duration_ms=_ms_since(started),
            mcp_connected=False,
        )


def compact_argv(claude_bin, model, session_id, **argv_options):
    """The /compact command line: the turn's own flags, resuming `session_id`."""
    return build_argv(claude_bin, model, session_id=session_id, **argv_options)


def run_compact(argv, cwd, env=None, on_event=None, on_stderr=None):
    """Compact a session (argv from compact_argv); ok when claude reports success."""
    turn = ClaudeTurn(
        argv, COMPACT_PROMPT, cwd, env, on_event, on_stderr, require_hyperhive=False
    )
    result = turn.run()
    if turn.reader.compact_result == "failed" and result.outcome != "cancelled":
        error = turn.reader.compact_error or "no reason given"
        result.outcome, result.note = "failed", f"Compaction failed ({error})."
    return result


def run_plugin_command(claude_bin, args, env, timeout=120, prefix=()):
    """Run `claude <args>` (plugin marketplace add / plugin install) -> (rc, stdout, stderr).

    rc is 0 when the output says the marketplace or plugin is already there
    (ALREADY_DONE_MARKERS), 127 when claude cannot be started, 124 on timeout.
    `prefix` goes in front of the command line (the harness's setpriv to claude's uid).
    """
    try:
        proc = subprocess.Popen(
            [*prefix, claude_bin, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return 127, "", f"Could not start claude: {exc.strerror or exc}"
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # A hung git clone would otherwise outlive us: end the whole group.
        _signal_group(proc, signal.SIGKILL)
        out, err = proc.communicate()
        note = f"\nclaude {' '.join(args)} timed out after {timeout} s"
        return 124, _text(out), _text(err) + note
    out, err = _text(out), _text(err)
    rc = proc.returncode
    if rc != 0 and _already_done(out + err):
        rc = 0
    return rc, out, err


def _already_done(output):
    lowered = output.lower()
    return any(marker in lowered for marker in ALREADY_DONE_MARKERS)


def _text(data):
    return (data or b"").decode("utf-8", errors="replace")


def _signal_group(proc, signum):
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass  # already gone
    except PermissionError:
        proc.send_signal(signum)


def _spawn(target, *args):
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _call_safely(callback, value):
    try:
        callback(value)
    except Exception:
        logger.exception("turn callback failed; the turn goes on")


def _ms_since(started):
    return int((time.monotonic() - started) * 1000)
