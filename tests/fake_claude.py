#!/usr/bin/env python3
"""A stand-in for the `claude` CLI (Claude Code 2.1.328, print mode) for harness tests.

Stdlib only. It accepts claude's argv, validates it like the real CLI (same stderr texts, rc 1,
empty stdout), and prints stream-json whose keys all occur in the recordings of the real binary.

Environment:
  FAKE_CLAUDE_SCENARIO  path of the scenario file (default: one turn answering "ok")
  FAKE_CLAUDE_STATE     state dir (default: <tmp>/fake-claude-state):
                          sessions/<session_id>.json  session_id, name, cwd, total_cost_usd,
                                                      turns, compactions
                          cursors/<hash>.json         next turn index, per scenario file
                          invocations.jsonl           one line per run: kind, argv, cwd, prompt,
                                                      session_id, env (selected), pid

Scenario: {"turns": [<turn>, ...], "repeat_last": false, "subcommand_stdout": "",
           "subcommand_rc": 0, "compact_result": "success" | "failed"}
Each run plays the next turn; past the end it replays the last one with repeat_last, else it
fails with rc 2. A "/compact" prompt does not use a turn.

Turn: {"steps": [...], "mcp_tools": {"hyperhive": ["recv", "send"]}, "autocompact": false,
       "mcp_status": {"hyperhive": "failed"}}
  mcp_tools    tools listed in init.tools as mcp__<server>__<tool>
  autocompact  prompt-too-long errors first show the failed auto-compaction frames
  mcp_status   overrides a server's init status (default: connected when its command exists)

Steps, played in order:
  {"text": "...", "usage": {...}, "cost_usd": 0.01}   assistant text (usage/cost: its message)
  {"tool": "mcp__hyperhive__send", "input": {...}, "result": "sent", "is_error": false,
   "tool_sleep": 0, "usage": {...}, "cost_usd": ...}  canned tool call and its result
  {"tool": "...", "input": {...}, "call": true}       real call: spawns the --mcp-config server,
                                                      legacy initialize (2025-06-18), tools/call
  {"api_error": {"status": 400, "kind": "prompt_too_long", "message": "..."}}
  {"api_error": {"status": 529, "message": "Overloaded", "error": "overloaded", "retries": 1}}
                                                      synthetic assistant + error result, rc 1
  {"stderr": "text"}                                  a line on stderr
  {"exit": 2}                                         exit at once, no result line
  {"sleep": 30}                                       stall as if waiting for the model
  {"result_error": "error_during_execution", "errors": ["boom"], "terminal_reason": "..."}
                                                      an error result (no "result" key), rc 1

Text and tool steps up to a tool result form one API message (one message.id, one usage,
one num_turns). A message's usage defaults to DEFAULT_USAGE, updated by its steps' `usage`;
its cost defaults to DEFAULT_MESSAGE_COST unless a step gives `cost_usd`. The result's
total_cost_usd is cumulative per session. SIGINT while sleeping: "[Request interrupted by
user]", rc 0, no result. SIGINT inside a tool: the rejected tool result, "[Request interrupted
by user for tool use]" and an aborted_tools error result, rc 0. SIGTERM: default action.
"""

import datetime
import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

VERSION = "2.1.328"
DEFAULT_USAGE = {
    "input_tokens": 11,
    "output_tokens": 7,
    "cache_read_input_tokens": 100,
    "cache_creation_input_tokens": 50,
}
DEFAULT_MESSAGE_COST = 0.0003555
COMPACT_COST = 0.0003555
DEFAULT_SCENARIO = {"turns": [{"steps": [{"text": "ok"}]}], "repeat_last": True}
# init.tools of 2.1.328 when --tools is not given (as recorded).
DEFAULT_TOOLS = [
    "Task", "Bash", "CronCreate", "CronDelete", "CronList", "Edit", "EnterWorktree",
    "ExitWorktree", "ListAgents", "ListMcpResourcesTool", "Monitor", "NotebookEdit", "Read",
    "ReadMcpResourceDirTool", "ReadMcpResourceTool", "ReportFindings", "ScheduleWakeup",
    "SendMessage", "Skill", "TaskCreate", "TaskGet", "TaskList", "TaskStop", "TaskUpdate",
    "ToolSearch", "WebFetch", "WebSearch", "Workflow", "Write",
]
# Tools that need no permission rule.
READ_ONLY_TOOLS = {"Read", "Glob", "Grep", "ToolSearch", "TaskGet", "TaskList", "ListAgents"}
MODEL_ALIASES = {"haiku": "claude-haiku-4-5", "sonnet": "claude-sonnet-4-5",
                 "opus": "claude-opus-5-5", "fable": "claude-fable-5"}
DEFAULT_MODEL = "claude-opus-5-5"
LEGACY_PROTOCOL = "2025-06-18"
ENV_PREFIXES_LOGGED = ("HYPERHIVE_", "ANTHROPIC_", "CLAUDE_CODE_", "MCP_")
ENV_KEYS_LOGGED = ("HOME", "IS_SANDBOX", "CLAUDECODE")
SUBCOMMANDS = {"plugin", "mcp", "auth", "setup-token", "doctor", "update", "install"}

BOOL_FLAGS = {
    "--print", "--verbose", "--continue", "--fork-session", "--strict-mcp-config",
    "--dangerously-skip-permissions", "--allow-dangerously-skip-permissions",
    "--include-partial-messages", "--include-hook-events", "--replay-user-messages",
    "--no-session-persistence", "--bare", "--version",
}
VALUE_FLAGS = {
    "--output-format", "--input-format", "--model", "--session-id", "--name",
    "--permission-mode", "--append-system-prompt", "--append-system-prompt-file",
    "--system-prompt", "--system-prompt-file", "--settings", "--setting-sources", "--max-turns",
    "--max-budget-usd", "--effort", "--fallback-model", "--permission-prompt-tool",
    "--plugin-dir",
}
VARIADIC_FLAGS = {"--mcp-config", "--allowedTools", "--disallowedTools", "--tools", "--add-dir"}
OPTIONAL_VALUE_FLAGS = {"--resume", "--debug"}
ALIASES = {
    "-p": "--print", "-r": "--resume", "-c": "--continue", "-n": "--name", "-v": "--version",
    "-d": "--debug", "--allowed-tools": "--allowedTools",
    "--disallowed-tools": "--disallowedTools",
}

ERR_NO_VERBOSE = "Error: When using --print, --output-format=stream-json requires --verbose"
ERR_ROOT = (
    "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons"
)
ERR_NO_PROMPT = (
    "Error: Input must be provided either through stdin or as a prompt argument when using --print"
)
ERR_RESUME_NO_VALUE = (
    "Error: --resume requires a valid session ID or session title when used with --print. "
    "Usage: claude -p --resume <session-id|title>"
)
REJECTED_TOOL_TEXT = (
    "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it "
    "was a file edit, the new_string was NOT written to the file). STOP what you are doing and "
    "wait for the user to tell you how to proceed."
)
INTERRUPTED = "[Request interrupted by user]"
INTERRUPTED_IN_TOOL = "[Request interrupted by user for tool use]"
ERRORS_BY_STATUS = {  # status -> (assistant `error`, api_error_type, default message)
    400: ("invalid_request", "invalid_request_error", "Bad request"),
    401: ("authentication_failed", "authentication_error", "Invalid API key"),
    403: ("permission_denied", "permission_error", "Forbidden"),
    429: ("rate_limit", "rate_limit_error", "Rate limited"),
    500: ("server_error", "api_error", "Internal server error"),
    529: ("server_error", "overloaded_error", "Overloaded"),
}


class StartupError(Exception):
    """An argv or environment problem: the text goes to stderr, rc 1, nothing on stdout."""


# ---------------------------------------------------------------- small helpers


def _uuid():
    return str(uuid.uuid4())


def _hex(n):
    return uuid.uuid4().hex[:n]


def _timestamp():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _split_list(values):
    """Values of a list flag: several words, each possibly comma-separated."""
    items = []
    for value in values or []:
        items += [v for v in value.replace(",", " ").split() if v]
    return items


def _read_json_arg(value, what):
    """A flag value that is inline JSON or a path to a JSON file."""
    try:
        if value.lstrip().startswith("{"):
            return json.loads(value)
        with open(value, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise StartupError(f"Error: Invalid {what} {value}: {exc}") from exc


# ---------------------------------------------------------------- argv


def parse_args(args):
    """(options, positionals); options map long flag names to True, a str or a list."""
    opts, positionals = {}, []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positionals += args[i:]
            break
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            continue
        name, eq, inline = arg.partition("=")
        name = ALIASES.get(name, name)
        if name in BOOL_FLAGS and not eq:
            opts[name] = True
        elif name in VALUE_FLAGS:
            if eq:
                opts[name] = inline
            elif i < len(args):
                opts[name] = args[i]
                i += 1
            else:
                raise StartupError(f"error: option '{name} <value>' argument missing")
        elif name in VARIADIC_FLAGS:
            values = [inline] if eq else []
            while not eq and i < len(args) and not args[i].startswith("-"):
                values.append(args[i])
                i += 1
            opts.setdefault(name, []).extend(values)
        elif name in OPTIONAL_VALUE_FLAGS:
            if eq:
                opts[name] = inline
            elif i < len(args) and not args[i].startswith("-"):
                opts[name] = args[i]
                i += 1
            else:
                opts[name] = True
        else:
            raise StartupError(f"error: unknown option '{arg.partition('=')[0]}'")
    return opts, positionals


# ---------------------------------------------------------------- state dir


class State:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "sessions"), exist_ok=True)
        os.makedirs(os.path.join(root, "cursors"), exist_ok=True)

    def _session_path(self, session_id):
        return os.path.join(self.root, "sessions", f"{session_id}.json")

    def load_session(self, session_id):
        try:
            with open(self._session_path(session_id), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def sessions(self):
        folder = os.path.join(self.root, "sessions")
        for entry in sorted(os.listdir(folder)):
            session = self.load_session(entry[: -len(".json")])
            if session:
                yield session

    def find_session(self, id_or_name):
        found = self.load_session(id_or_name)
        if found:
            return found
        named = [s for s in self.sessions() if s.get("name") == id_or_name]
        return named[-1] if named else None

    def newest_session(self, cwd):
        mine = [s for s in self.sessions() if s.get("cwd") == cwd]
        return max(mine, key=lambda s: s.get("updated", 0)) if mine else None

    def save_session(self, session):
        session["updated"] = time.time()
        path = self._session_path(session["session_id"])
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(session, f)
        os.replace(path + ".tmp", path)

    def next_turn(self, scenario_key, scenario):
        """The next turn of this scenario file, or None when it has run out."""
        key = hashlib.sha1(scenario_key.encode()).hexdigest()[:16]
        path = os.path.join(self.root, "cursors", f"{key}.json")
        try:
            with open(path, encoding="utf-8") as f:
                index = json.load(f)["next"]
        except (OSError, ValueError, KeyError):
            index = 0
        turns = scenario.get("turns") or []
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"next": index + 1, "scenario": scenario_key}, f)
        if index < len(turns):
            return turns[index]
        return turns[-1] if turns and scenario.get("repeat_last") else None

    def log(self, record):
        line = json.dumps(record, ensure_ascii=False) + "\n"
        # One append per run: O_APPEND keeps concurrent lines whole.
        path = os.path.join(self.root, "invocations.jsonl")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)


def selected_env():
    """The environment variables a test may want to assert on (secrets only as <set>)."""
    picked = {}
    for key, value in os.environ.items():
        if key in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"):
            picked[key] = "<set>"
        elif key.startswith(ENV_PREFIXES_LOGGED) or key in ENV_KEYS_LOGGED:
            picked[key] = value
    return picked


# ---------------------------------------------------------------- output


class Output:
    """Writes frames as NDJSON, or only the result for --output-format text|json."""

    def __init__(self, fmt):
        self.fmt = fmt
        self.results = []

    def emit(self, frame):
        if frame.get("type") == "result":
            self.results.append(frame)
        if self.fmt == "stream-json":
            self._write(json.dumps(frame, ensure_ascii=False, separators=(",", ":")))

    def finish(self):
        if self.fmt == "stream-json" or not self.results:
            return
        result = self.results[-1]
        if self.fmt == "json":
            self._write(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
        else:
            self._write(result.get("result") or "; ".join(result.get("errors") or []))

    @staticmethod
    def _write(line):
        try:
            sys.stdout.buffer.write(line.encode("utf-8") + b"\n")
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            os._exit(1)


# ---------------------------------------------------------------- MCP client (real calls)


class McpError(Exception):
    pass


class McpCall:
    """One tools/call on a stdio MCP server, over the legacy initialize handshake."""

    def __init__(self, name, config):
        self.name = name
        self.config = config
        self.server_info = {"name": name, "version": ""}
        self.proc = None
        self.lines = queue.Queue()
        self.last_id = 0

    def call(self, tool, arguments):
        hello = {
            "protocolVersion": LEGACY_PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "claude-code", "version": VERSION},
        }
        startup_timeout = float(os.environ.get("MCP_TIMEOUT", "30000")) / 1000
        try:
            self._start()
            reply = self._request("initialize", hello, startup_timeout)
            self.server_info = reply.get("serverInfo") or self.server_info
            self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            params = {"name": tool, "arguments": arguments}
            return self._request("tools/call", params, self._tool_timeout())
        finally:
            self.close()

    def _tool_timeout(self):
        ms = self.config.get("timeout") or os.environ.get("MCP_TOOL_TIMEOUT") or 60000
        return float(ms) / 1000

    def _start(self):
        env = dict(os.environ, **(self.config.get("env") or {}))
        command = [self.config["command"], *(self.config.get("args") or [])]
        try:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, env=env,
            )
        except OSError as exc:
            raise McpError("Connection closed") from exc
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for raw in self.proc.stdout:
            self.lines.put(raw)
        self.lines.put(None)

    def _send(self, message):
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise McpError("Connection closed") from exc

    def _request(self, method, params, timeout):
        self.last_id += 1
        request_id = self.last_id
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise McpError(f"MCP error -32001: Request timed out ({method})")
            try:
                raw = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if raw is None:
                raise McpError("Connection closed")
            message = _json_or_none(raw)
            if not isinstance(message, dict):
                continue
            if "method" in message and "id" in message:
                self._answer_server_request(message)
            elif message.get("id") == request_id:
                if "error" in message:
                    error = message["error"] or {}
                    raise McpError(f"MCP error {error.get('code')}: {error.get('message')}")
                return message.get("result") or {}

    def _answer_server_request(self, message):
        # We declare no client capabilities; only ping deserves a real answer.
        if message["method"] == "ping":
            self._send({"jsonrpc": "2.0", "id": message["id"], "result": {}})
        else:
            error = {"code": -32601, "message": "Method not found"}
            self._send({"jsonrpc": "2.0", "id": message["id"], "error": error})

    def close(self):
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _json_or_none(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return None


# ---------------------------------------------------------------- one invocation


class Invocation:
    """Validated options of one print-mode run, the session and the tool permissions."""

    def __init__(self, opts, positionals, state, scenario, scenario_key):
        self.opts = opts
        self.state = state
        self.scenario = scenario
        self.scenario_key = scenario_key
        self.cwd = os.getcwd()
        self.model = MODEL_ALIASES.get(opts.get("--model"), opts.get("--model") or DEFAULT_MODEL)
        self.output_format = opts.get("--output-format", "text")
        self.input_format = opts.get("--input-format", "text")
        self.settings = {}
        self.mcp_config = {}
        self.result_index = 0
        self._validate()
        self._load_configs()
        self.prompt = self._read_prompt(positionals)
        self.session = None

    def _validate(self):
        if not self.opts.get("--print"):
            raise StartupError("fake claude: only --print mode is supported")
        if self.output_format == "stream-json" and not self.opts.get("--verbose"):
            raise StartupError(ERR_NO_VERBOSE)
        if self.wants_bypass and os.geteuid() == 0 and os.environ.get("IS_SANDBOX") != "1":
            raise StartupError(ERR_ROOT)
        session_id = self.opts.get("--session-id")
        if session_id and self.state.load_session(session_id):
            raise StartupError(f"Error: Session ID {session_id} is already in use.")

    @property
    def wants_bypass(self):
        return (
            self.opts.get("--dangerously-skip-permissions")
            or self.opts.get("--allow-dangerously-skip-permissions")
            or self.opts.get("--permission-mode") == "bypassPermissions"
        )

    def _load_configs(self):
        if "--settings" in self.opts:
            self.settings = _read_json_arg(self.opts["--settings"], "settings")
        for value in self.opts.get("--mcp-config", []):
            config = _read_json_arg(value, "MCP configuration")
            self.mcp_config.update(config.get("mcpServers") or {})

    def _read_prompt(self, positionals):
        parts = [" ".join(positionals)] if positionals else []
        if self.input_format != "stream-json" and not sys.stdin.isatty():
            parts.append(sys.stdin.buffer.read().decode("utf-8", errors="replace"))
        prompt = "\n".join(p for p in parts if p)
        if not prompt.strip() and self.input_format != "stream-json":
            raise StartupError(ERR_NO_PROMPT)
        return prompt

    # -- sessions

    def resolve_session(self):
        """The session of this run; None after printing the resume failure."""
        resume = self.opts.get("--resume")
        if resume is True:
            sys.stderr.write(ERR_RESUME_NO_VALUE + "\n")
            self.print_resume_failure("", ERR_RESUME_NO_VALUE)
            return None
        if resume:
            found = self.state.find_session(resume)
            if not found:
                text = f"No conversation found with session ID: {resume}"
                sys.stderr.write(text + "\n")
                self.print_resume_failure(resume, text)
                return None
        elif self.opts.get("--continue"):
            found = self.state.newest_session(self.cwd)
            if not found:
                text = "No conversation found to continue"
                sys.stderr.write(text + "\n")
                self.print_resume_failure(_uuid(), text)
                return None
        else:
            found = None
        session = self._fork_or_new(found)
        if self.opts.get("--name"):
            session["name"] = self.opts["--name"]
        self.state.save_session(session)
        self.session = session
        return session

    def _fork_or_new(self, found):
        if found and not self.opts.get("--fork-session"):
            return found
        session = {
            "session_id": self.opts.get("--session-id") or _uuid(),
            "cwd": self.cwd,
            "total_cost_usd": 0.0,
            "turns": 0,
            "compactions": 0,
        }
        if found:
            session["total_cost_usd"] = found.get("total_cost_usd", 0.0)
        return session

    def print_resume_failure(self, session_id, text):
        Output(self.output_format).emit({
            "type": "result", "subtype": "error_during_execution", "duration_ms": 0,
            "duration_api_ms": 0, "is_error": True, "num_turns": 0, "stop_reason": None,
            "session_id": session_id, "total_cost_usd": 0, "usage": _zero_usage(),
            "permission_denials": [], "uuid": _uuid(), "errors": [text], "result_index": 0,
        })

    # -- tools and permissions

    @property
    def permission_mode(self):
        if self.opts.get("--dangerously-skip-permissions"):
            return "bypassPermissions"
        mode = self.opts.get("--permission-mode") or self._permissions().get("defaultMode")
        return "default" if mode in (None, "manual") else mode

    def _permissions(self):
        permissions = self.settings.get("permissions")
        return permissions if isinstance(permissions, dict) else {}

    def builtin_tools(self):
        if "--tools" not in self.opts:
            names = list(DEFAULT_TOOLS)
        else:
            names = _split_list(self.opts["--tools"])
            if names == ["default"]:
                names = list(DEFAULT_TOOLS)
        return [n for n in names if not self._removed(n)]

    def _removed(self, name):
        # --disallowedTools and settings deny rules for a bare tool name drop it entirely.
        removed = _split_list(self.opts.get("--disallowedTools")) + list(
            self._permissions().get("deny") or []
        )
        return name in removed

    def server_status(self, name, turn):
        override = (turn.get("mcp_status") or {}).get(name)
        if override:
            return override
        config = self.mcp_config.get(name) or {}
        command = config.get("command")
        if config.get("type", "stdio") != "stdio":
            return "connected"
        return "connected" if command and shutil.which(command) else "failed"

    def connected_servers(self, turn):
        return [n for n in self.mcp_config if self.server_status(n, turn) == "connected"]

    def init_tools(self, turn):
        tools = self.builtin_tools()
        connected = self.connected_servers(turn)
        for server, names in (turn.get("mcp_tools") or {}).items():
            if server in connected:
                tools += [f"mcp__{server}__{n}" for n in names if not self._removed(n)]
        return tools

    def tool_verdict(self, name, turn):
        """'ok', 'missing' (no such tool) or 'denied' (no permission rule)."""
        if self._removed(name):
            return "missing"
        if name.startswith("mcp__"):
            server = name[len("mcp__"):].partition("__")[0]
            if server not in self.connected_servers(turn):
                return "missing"
        elif name not in self.builtin_tools():
            return "missing"
        return "ok" if self._allowed(name) else "denied"

    def _allowed(self, name):
        mode = self.permission_mode
        if mode == "bypassPermissions":
            return True
        if any(_rule_matches(r, name) for r in self._permissions().get("deny") or []):
            return False
        rules = _split_list(self.opts.get("--allowedTools")) + list(
            self._permissions().get("allow") or []
        )
        if any(_rule_matches(r, name) for r in rules):
            return True
        if mode == "acceptEdits" and name in ("Edit", "Write", "NotebookEdit"):
            return True
        return name in READ_ONLY_TOOLS

    def log(self, kind, **extra):
        self.state.log({
            "kind": kind, "argv": sys.argv[1:], "cwd": self.cwd, "prompt": self.prompt,
            "session_id": self.session and self.session["session_id"], "env": selected_env(),
            "pid": os.getpid(), **extra,
        })


def _rule_matches(rule, name):
    if rule == name or rule.partition("(")[0] == name:
        return True
    if rule.startswith("mcp__"):
        if rule.endswith("__*") and rule.count("__") >= 2:
            return name.startswith(rule[:-1])
        if rule.count("__") == 1:  # a whole server: mcp__hyperhive
            return name.startswith(rule + "__")
    return False


def _zero_usage():
    return {
        "input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 0,
    }


# ---------------------------------------------------------------- frames shared by turns


def system_frame(session_id, subtype, **fields):
    return {"type": "system", "subtype": subtype, **fields, "session_id": session_id,
            "uuid": _uuid()}


def init_frame(inv, turn):
    session_id = inv.session["session_id"]
    project = inv.cwd.replace("/", "-").replace(".", "-")
    home = os.environ.get("HOME", "/root")
    servers = [
        {"name": n, "status": inv.server_status(n, turn), "source": "dynamic"}
        for n in inv.mcp_config
    ]
    return {
        "type": "system", "subtype": "init", "cwd": inv.cwd, "session_id": session_id,
        "tools": inv.init_tools(turn), "mcp_servers": servers, "model": inv.model,
        "permissionMode": inv.permission_mode,
        "slash_commands": ["clear", "compact", "context", "init", "mcp", "model", "usage"],
        "apiKeySource": "ANTHROPIC_API_KEY" if os.environ.get("ANTHROPIC_API_KEY") else "none",
        "claude_code_version": VERSION, "output_style": "default",
        "agents": ["general-purpose"], "skills": [], "plugins": [], "uuid": _uuid(),
        "memory_paths": {"auto": f"{home}/.claude/projects/{project}/memory/"},
        "original_cwd": inv.cwd, "additional_directories": list(inv.opts.get("--add-dir", [])),
        "fast_mode_state": "off",
    }


def user_frame(session_id, content, **extra):
    return {
        "type": "user", "message": {"role": "user", "content": content},
        "parent_tool_use_id": None, "session_id": session_id, "uuid": _uuid(),
        "timestamp": _timestamp(), **extra,
    }


# ---------------------------------------------------------------- playing a turn


class TurnStop(Exception):
    """The turn has printed its last frame; `rc` is the exit code."""

    def __init__(self, rc):
        super().__init__(rc)
        self.rc = rc


class TurnPlayer:
    def __init__(self, inv, turn, out):
        self.inv = inv
        self.turn = turn
        self.out = out
        self.sid = inv.session["session_id"]
        self.steps = turn.get("steps") or []
        self.plan = plan_messages(self.steps)
        self.started = time.monotonic()
        self.messages = 0  # API messages started (num_turns)
        self.message = None  # (id, request_id, usage) of the current message
        self.after_tool_result = True  # the next block starts a new message
        self.usage = dict.fromkeys(_zero_usage(), 0)
        self.last_text = ""
        self.denials = []
        self.rc = 0
        self.result_printed = False

    def play(self):
        if self.inv.opts.get("--name"):
            self.out.emit(system_frame(self.sid, "session_title_changed",
                                       title=self.inv.opts["--name"]))
        self.out.emit(init_frame(self.inv, self.turn))
        try:
            for step in self.steps:
                self.play_step(step)
            self.finish()
        except TurnStop as stop:
            self.rc = stop.rc
        except KeyboardInterrupt:
            # SIGINT while "waiting for the model": a marker line, no result, rc 0.
            self.emit_user([{"type": "text", "text": INTERRUPTED}])
            self.rc = 0
        finally:
            self.inv.session["turns"] = self.inv.session.get("turns", 0) + 1
            self.inv.state.save_session(self.inv.session)
        return self.rc

    def play_step(self, step):
        if "text" in step:
            self.begin_block()
            self.last_text = str(step["text"])
            self.emit_assistant({"type": "text", "text": self.last_text})
        elif "tool" in step:
            self.begin_block()
            self.play_tool(step)
        elif "api_error" in step:
            self.play_api_error(step["api_error"] or {})
        elif "stderr" in step:
            text = str(step["stderr"])
            sys.stderr.write(text if text.endswith("\n") else text + "\n")
            sys.stderr.flush()
        elif "exit" in step:
            sys.stdout.flush()
            raise TurnStop(int(step["exit"]))
        elif "sleep" in step:
            time.sleep(float(step["sleep"]))
        elif "result_error" in step:
            self.print_error_result(step)

    # -- messages

    def begin_block(self):
        if not self.after_tool_result:
            return
        limit = self.inv.opts.get("--max-turns")
        if limit is not None and self.messages >= int(limit):
            self.print_max_turns(int(limit))
        usage, cost = self.plan[min(self.messages, len(self.plan) - 1)]
        self.messages += 1
        self.message = (f"msg_fake_{_hex(12)}", f"req_fake_{_hex(8)}", usage)
        self.after_tool_result = False
        for key in self.usage:
            self.usage[key] += usage.get(key, 0)
        self.inv.session["total_cost_usd"] = self.inv.session.get("total_cost_usd", 0.0) + cost

    def emit_assistant(self, block, **extra):
        message_id, request_id, usage = self.message
        # Assistant lines carry the usage of message_start: output_tokens is 1 there.
        line_usage = {
            "input_tokens": usage.get("input_tokens", 0),
            "output_tokens": min(1, usage.get("output_tokens", 0)),
            "cache_read_input_tokens": usage.get("cache_read_input_tokens", 0),
            "cache_creation_input_tokens": usage.get("cache_creation_input_tokens", 0),
        }
        self.out.emit({
            "type": "assistant",
            "message": {
                "id": message_id, "type": "message", "role": "assistant",
                "model": self.inv.model, "content": [block], "stop_reason": None,
                "stop_sequence": None, "usage": line_usage, "context_management": None,
            },
            "parent_tool_use_id": None, "session_id": self.sid, "uuid": _uuid(),
            "timestamp": _timestamp(), "request_id": request_id, **extra,
        })

    def emit_user(self, content, **extra):
        self.out.emit(user_frame(self.sid, content, **extra))

    # -- tools

    def play_tool(self, step):
        name = str(step["tool"])
        tool_id = f"toolu_fake_{_hex(10)}"
        extra = {}
        if name.startswith("mcp__"):
            server, _, short = name[len("mcp__"):].partition("__")
            extra["tool_use_meta"] = [{
                "id": tool_id, "display_name": short.replace("_", " ").title(),
                "server_display_name": server, "tool_name": short,
            }]
        tool_input = step.get("input") or {}
        self.emit_assistant(
            {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}, **extra
        )
        verdict = self.inv.tool_verdict(name, self.turn)
        if verdict == "missing":
            self.emit_missing_tool(tool_id, name)
        elif verdict == "denied":
            self.emit_denied_tool(tool_id, name, tool_input)
        else:
            self.run_tool(step, tool_id, name, tool_input)
        self.after_tool_result = True

    def emit_missing_tool(self, tool_id, name):
        text = f"Error: No such tool available: {name}"
        block = {"type": "tool_result", "content": f"<tool_use_error>{text}</tool_use_error>",
                 "is_error": True, "tool_use_id": tool_id}
        self.emit_user([block], tool_use_result=text)

    def emit_denied_tool(self, tool_id, name, tool_input):
        text = f"Claude requested permissions to use {name}, but you haven't granted it yet."
        self.out.emit(system_frame(self.sid, "permission_denied", tool_name=name,
                                   tool_use_id=tool_id, message=text))
        block = {"type": "tool_result", "content": text, "is_error": True,
                 "tool_use_id": tool_id}
        meta = [{"id": tool_id, "non_execution_kind": "user-rejected",
                 "permission_decision": {"decision": "reject", "source": "config"}}]
        self.emit_user([block], tool_use_result=f"Error: {text}", tool_result_meta=meta)
        self.denials.append({"tool_name": name, "tool_use_id": tool_id, "tool_input": tool_input})

    def run_tool(self, step, tool_id, name, tool_input):
        try:
            if step.get("tool_sleep"):
                time.sleep(float(step["tool_sleep"]))
            if step.get("call"):
                block, tool_use_result = self.real_call(tool_id, name, tool_input)
            else:
                block, tool_use_result = canned_result(step, tool_id, name)
        except KeyboardInterrupt:
            self.abort_tool(tool_id)
        meta = [{"id": tool_id, "permission_decision": {
            "decision": "accept", "source": "config", "reason_type": "rule"}}]
        extra = {"tool_use_result": tool_use_result} if tool_use_result is not None else {}
        self.emit_user([block], **extra, tool_result_meta=meta)

    def real_call(self, tool_id, name, tool_input):
        server, _, short = name[len("mcp__"):].partition("__")
        call = McpCall(server, self.inv.mcp_config.get(server) or {})
        try:
            reply = call.call(short, tool_input)
        except McpError as exc:
            text = str(exc)
            block = {"type": "tool_result", "content": text, "is_error": True,
                     "tool_use_id": tool_id}
            return block, f"Error: {text}"
        meta = {"io.modelcontextprotocol/serverInfo": call.server_info}
        return mcp_result_block(reply, tool_id, meta)

    def abort_tool(self, tool_id):
        """SIGINT inside a tool, as recorded: rejected result, marker, aborted_tools result."""
        block = {"type": "tool_result", "content": REJECTED_TOOL_TEXT, "is_error": True,
                 "tool_use_id": tool_id}
        meta = [{"id": tool_id, "non_execution_kind": "user-rejected"}]
        self.emit_user([block], tool_use_result="User rejected tool use", tool_result_meta=meta)
        self.emit_user([{"type": "text", "text": INTERRUPTED_IN_TOOL}])
        self.print_result(
            subtype="error_during_execution", is_error=True, stop_reason="tool_use",
            terminal_reason="aborted_tools",
            # The recorded run reported two more turns than API messages.
            num_turns=self.messages + 2,
            errors=["[ede_diagnostic] result_type=user last_content_type=n/a stop_reason=tool_use"],
        )
        raise TurnStop(0)

    # -- errors and results

    def play_api_error(self, spec):
        status = int(spec.get("status", 500))
        default_error, error_type, default_message = ERRORS_BY_STATUS.get(
            status, ("api_error", "api_error", "Error"))
        if spec.get("kind") == "prompt_too_long":
            if self.turn.get("autocompact"):
                self.emit_failed_autocompact()
            text = spec.get("message") or "Prompt is too long"
            error, reason = "invalid_request", "prompt_too_long"
        else:
            error, reason = spec.get("error") or default_error, "api_error"
            text = f"API Error: {status} {spec.get('message') or default_message}"
            retries = int(spec.get("retries", 0))
            for attempt in range(1, retries + 1):
                self.out.emit(system_frame(
                    self.sid, "api_retry", attempt=attempt, max_retries=retries,
                    retry_delay_ms=500, error_status=status, error=error))
        if self.after_tool_result:
            self.messages += 1
        self.emit_synthetic(text, error, status, error_type)
        self.print_result(
            subtype="success", is_error=True, stop_reason="stop_sequence", result=text,
            terminal_reason=reason, api_error_status=status, api_error_type=error_type,
        )
        raise TurnStop(1)

    def emit_failed_autocompact(self):
        self.out.emit(system_frame(self.sid, "status", status="compacting",
                                   compact_output_chars=0))
        self.out.emit(system_frame(self.sid, "status", status=None, compact_result="failed",
                                   compact_error="exhausted"))

    def emit_synthetic(self, text, error, status, error_type):
        usage = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0}
        self.out.emit({
            "type": "assistant",
            "message": {
                "id": _uuid(), "container": None, "model": "<synthetic>", "role": "assistant",
                "stop_reason": "stop_sequence", "stop_sequence": "", "type": "message",
                "usage": usage, "content": [{"type": "text", "text": text}],
                "context_management": None,
            },
            "parent_tool_use_id": None, "session_id": self.sid, "uuid": _uuid(),
            "timestamp": _timestamp(), "error": error, "request_id": "req_fake",
            "is_api_error_message": True, "api_error_status": status,
            "api_error_type": error_type,
        })

    def print_max_turns(self, limit):
        self.print_result(
            subtype="error_max_turns", is_error=True, stop_reason="tool_use",
            terminal_reason="max_turns", num_turns=limit + 1,
            errors=[f"Reached maximum number of turns ({limit})"],
        )
        raise TurnStop(1)

    def print_error_result(self, step):
        fields = {"errors": list(step.get("errors") or [])}
        if step.get("terminal_reason"):
            fields["terminal_reason"] = step["terminal_reason"]
        self.print_result(subtype=str(step["result_error"]), is_error=True, stop_reason=None,
                          **fields)
        self.rc = 1

    def finish(self):
        if self.result_printed:
            raise TurnStop(self.rc)
        limit = self.inv.opts.get("--max-turns")
        if limit is not None and self.after_tool_result and self.messages >= int(limit):
            self.print_max_turns(int(limit))
        self.print_result(
            subtype="success", is_error=False, stop_reason="end_turn", result=self.last_text,
            terminal_reason="completed", api_error_status=None,
        )
        raise TurnStop(0)

    def print_result(self, subtype, is_error, stop_reason, num_turns=None, **fields):
        elapsed = int((time.monotonic() - self.started) * 1000)
        frame = {
            "type": "result", "subtype": subtype, "is_error": is_error,
            "duration_ms": elapsed, "duration_api_ms": 20 * self.messages,
            "num_turns": max(1, self.messages) if num_turns is None else num_turns,
            "stop_reason": stop_reason, "session_id": self.sid,
            "total_cost_usd": round(self.inv.session.get("total_cost_usd", 0.0), 10),
            "usage": dict(self.usage), "permission_denials": list(self.denials),
            "uuid": _uuid(), "result_index": self.inv.result_index, **fields,
        }
        self.inv.result_index += 1
        self.out.emit(frame)
        self.result_printed = True


def plan_messages(steps):
    """[(usage, cost)] per API message, merged from the steps that belong to it."""
    plan = []
    new_message = True
    for step in steps:
        if "text" not in step and "tool" not in step:
            continue
        if new_message:
            plan.append([dict(DEFAULT_USAGE), None])
            new_message = False
        plan[-1][0].update(step.get("usage") or {})
        if step.get("cost_usd") is not None:
            plan[-1][1] = (plan[-1][1] or 0.0) + float(step["cost_usd"])
        if "tool" in step:
            new_message = True
    plan = [(usage, DEFAULT_MESSAGE_COST if cost is None else cost) for usage, cost in plan]
    return plan or [(dict(DEFAULT_USAGE), DEFAULT_MESSAGE_COST)]


def canned_result(step, tool_id, name):
    """(tool_result block, tool_use_result) for a canned tool step."""
    text = str(step.get("result", ""))
    if step.get("is_error"):
        block = {"type": "tool_result", "content": text, "is_error": True,
                 "tool_use_id": tool_id}
        return block, f"Error: {text}"
    if not name.startswith("mcp__"):
        return {"tool_use_id": tool_id, "type": "tool_result", "content": text}, None
    server = name[len("mcp__"):].partition("__")[0]
    content = [{"type": "text", "text": text}]
    meta = {"io.modelcontextprotocol/serverInfo": {"name": server, "version": ""}}
    block = {"tool_use_id": tool_id, "type": "tool_result", "content": content}
    return block, {"content": content, "_meta": meta}


def mcp_result_block(reply, tool_id, meta):
    """What claude shows for a tools/call result: see claude-cli.md §4.3."""
    texts = [c.get("text", "") for c in reply.get("content") or [] if c.get("type") == "text"]
    if reply.get("isError"):
        text = "\n".join(texts)
        block = {"type": "tool_result", "content": text, "is_error": True,
                 "tool_use_id": tool_id}
        return block, {"content": f"Error: {text}", "_meta": meta}
    if reply.get("structuredContent") is not None:
        # The model sees the structured content as a JSON string, not the text blocks.
        text = json.dumps(reply["structuredContent"], separators=(",", ":"))
        block = {"tool_use_id": tool_id, "type": "tool_result", "content": text}
        return block, {"content": text, "_meta": meta,
                       "structuredContent": reply["structuredContent"]}
    content = [{"type": "text", "text": t} for t in texts]
    block = {"tool_use_id": tool_id, "type": "tool_result", "content": content}
    return block, {"content": content, "_meta": meta}


# ---------------------------------------------------------------- /compact


def play_compact(inv, out):
    """The recorded `/compact` sequence (claude-cli.md §10); no scenario turn is used."""
    sid = inv.session["session_id"]
    started = time.monotonic()
    failed = inv.scenario.get("compact_result") == "failed"
    out.emit(system_frame(sid, "status", status="compacting"))
    if failed:  # [guess] for a manual /compact, taken from the auto-compaction frames
        out.emit(system_frame(sid, "status", status=None, compact_result="failed",
                              compact_error="exhausted"))
    else:
        out.emit(system_frame(sid, "status", status=None, compact_result="success"))
    out.emit(init_frame(inv, {}))
    if not failed:
        emit_compacted_history(inv, out, sid, started)
        inv.session["compactions"] = inv.session.get("compactions", 0) + 1
    inv.session["total_cost_usd"] = inv.session.get("total_cost_usd", 0.0) + COMPACT_COST
    inv.state.save_session(inv.session)
    result = {
        "is_error": failed, "duration_api_ms": 0, "num_turns": 0, "stop_reason": None,
        "session_id": sid, "total_cost_usd": round(inv.session["total_cost_usd"], 10),
        "usage": _zero_usage(), "permission_denials": [], "subtype": "success",
        "result": "Error: Compaction failed." if failed else "", "local_command": "compact",
        "type": "result", "duration_ms": int((time.monotonic() - started) * 1000),
        "uuid": _uuid(), "result_index": 0,
    }
    out.emit(result)
    return 1 if failed else 0


def emit_compacted_history(inv, out, sid, started):
    home = os.environ.get("HOME", "/root")
    project = inv.cwd.replace("/", "-").replace(".", "-")
    boundary_uuid = _uuid()
    out.emit(system_frame(sid, "compact_boundary", compact_metadata={
        "trigger": "manual", "pre_tokens": 168, "post_tokens": 2671,
        "duration_ms": int((time.monotonic() - started) * 1000)},
        logical_parent_uuid=boundary_uuid))
    summary = (
        "This session is being continued from a previous conversation that ran out of context. "
        "The summary below covers the earlier portion of the conversation.\n\nSummary:\n"
        "(fake compaction summary)\n\nIf you need specific details from before compaction, "
        f"read the full transcript at: {home}/.claude/projects/{project}/{sid}.jsonl"
    )
    out.emit(user_frame(sid, summary, isReplay=False, isSynthetic=True))
    out.emit(user_frame(sid, "<local-command-stdout>Compacted </local-command-stdout>",
                        isReplay=True))


# ---------------------------------------------------------------- entry


def load_scenario():
    path = os.environ.get("FAKE_CLAUDE_SCENARIO")
    if not path:
        return DEFAULT_SCENARIO, "<default>"
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f), os.path.abspath(path)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"fake claude: cannot read scenario {path}: {exc}\n")
        sys.exit(2)


def run_subcommand(args, state, scenario):
    state.log({"kind": "subcommand", "argv": args, "cwd": os.getcwd(), "env": selected_env(),
               "pid": os.getpid()})
    stdout = scenario.get("subcommand_stdout") or ""
    if stdout:
        sys.stdout.write(stdout if stdout.endswith("\n") else stdout + "\n")
    return int(scenario.get("subcommand_rc", 0))


def play_turns(inv, out):
    """Plays one turn per prompt: the argv/stdin prompt, or each stdin line in stream-json."""
    if inv.input_format != "stream-json":
        return play_one(inv, out)
    rc = 0
    for raw in sys.stdin.buffer:
        message = _json_or_none(raw) or {}
        content = (message.get("message") or {}).get("content")
        if isinstance(content, list):
            content = "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
        inv.prompt = content or ""
        rc = play_one(inv, out)
        if rc != 0:
            break
    return rc


def play_one(inv, out):
    if inv.prompt.lstrip().startswith("/compact"):
        inv.log("compact")
        return play_compact(inv, out)
    turn = inv.state.next_turn(inv.scenario_key, inv.scenario)
    inv.log("turn")
    if turn is None:
        sys.stderr.write(f"fake claude: scenario {inv.scenario_key} has no turn left\n")
        return 2
    return TurnPlayer(inv, turn, out).play()


def main(args):
    state = State(os.environ.get("FAKE_CLAUDE_STATE")
                  or os.path.join(tempfile.gettempdir(), "fake-claude-state"))
    scenario, scenario_key = load_scenario()
    if args and args[0] in SUBCOMMANDS:
        return run_subcommand(args, state, scenario)
    try:
        opts, positionals = parse_args(args)
        if opts.get("--version"):
            print(f"{VERSION} (Claude Code)")
            return 0
        inv = Invocation(opts, positionals, state, scenario, scenario_key)
    except StartupError as exc:
        state.log({"kind": "startup_error", "argv": args, "cwd": os.getcwd(),
                   "error": str(exc), "env": selected_env(), "pid": os.getpid()})
        sys.stderr.write(f"{exc}\n")
        return 1
    if inv.resolve_session() is None:
        inv.log("resume_failed")
        return 1
    out = Output(inv.output_format)
    rc = play_turns(inv, out)
    out.finish()
    return rc


if __name__ == "__main__":
    # A parent that ignores SIGINT (a background shell job) would hand that on; claude
    # handles SIGINT itself either way, so the fake always turns it into KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        # SIGINT before a turn started: nothing was printed yet; claude exits quietly.
        sys.exit(0)
