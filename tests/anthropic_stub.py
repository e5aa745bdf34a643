"""A scripted Anthropic Messages API on 127.0.0.1, for running the real `claude` CLI in tests.

Use:
    with Stub() as stub:                       # binds 127.0.0.1 on a free port
        stub.add_rule(r"say hello", [{"text": "Hello!"}])
        env = claude_env(stub, home)           # then run find_claude() with env
    python tests/anthropic_stub.py --port 8765 --script rules.json   # by hand

Rules. A request whose last user message is fresh text (not a tool_result) is answered by step 0 of
the first rule, in insertion order, whose `match` regex is found in that text and, when `agent` is
given, whose agent pattern is found in the system prompt (a bare name must occur as a whole word;
anything else is a regex). `times` caps how often a rule fires. A request carrying a tool_result for
a tool_use the stub issued gets the next step of the rule that issued it. Past the last step, or
with no rule, the answer is the text "ok" (end_turn).

Steps:
    {"text": "..."}                                  text, stop_reason end_turn
    {"tool": "mcp__x__y", "input": {...}, "text"?}   optional text, then tool_use (stop_reason tool_use)
    {"tools": [{"name": ..., "input": ...}, ...]}    several tool_use blocks in one message
    {"error": 400, "kind": "prompt_too_long"}        400 "prompt is too long: 250123 tokens > 200000 maximum"
    {"error": 401 | 403 | 429 | 500 | 529, ...}      the real error body for that status
    {"error": 429, "limit": {...}}                   a rate limit with the headers the real API sends
Any step may add "delay" (seconds before answering), "usage" ({input_tokens, output_tokens,
cache_read_input_tokens, cache_creation_input_tokens}), "headers" (extra response headers), and
error steps "message", "should_retry" (sends x-should-retry) or "retry_after".

"limit" (see rate_limit_headers()) describes the limit hit: "reset_in" (seconds from the answer)
or "reset_at" (unix seconds), "plan" "api" (an API key's per-minute limits: retry-after and
anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset} with
RFC 3339 resets) or "subscription" (a Claude login's unified limits:
anthropic-ratelimit-unified-{status,reset,representative-claim,5h-*,7d-*,...}, resets in unix
seconds), "window" "five_hour" or "seven_day", and "status" (default "rejected"; "allowed" or
"allowed_warning" on a text step report the headroom of an answered request).

Request kinds, in `stub.requests` (each entry: path, kind, model, system, system_turns,
last_user_text, tool_names, deferred_tool_names, has_tool_result, stream, rule, step, answer, body):
"prompt" (a main-loop request, scripted by rules), "compact" (a compaction summary request,
scripted by rules added with kind="compact", else answered with a <summary> block), "aux" (no
tools: answered "ok", never consumes steps), and "hello", "models", "count_tokens", "unknown".

What claude 2.1.330 does against it (measured; 2.1.332 sends the same requests, the trailing
"system" turn included):
* With claude_env() a `claude -p` turn makes only POST /v1/messages?beta=true, always streamed,
  one request per model round trip (x-api-key, anthropic-version 2023-06-01, a long anthropic-beta
  list, X-Claude-Code-Session-Id). Without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC it first sends
  HEAD /api/hello to the base URL. count_tokens and /v1/models were never called; they are answered
  anyway. Other paths get a 404, are kept in `unknown_paths` and printed on stderr.
* `system` is a list of blocks: a billing header, an identity line, then one block holding the
  --system-prompt-file text followed by the --append-system-prompt text. `messages` ends with a
  role "system" turn (environment, deferred tool names, token budget) after the user's message, so
  the prompt is the last message whose role is "user"; its leading <system-reminder> block is left
  out of last_user_text. MCP tools are not in `tools`: they are deferred behind ToolSearch and only
  named in that system turn (deferred_tool_names). A direct call to one still runs.
  `--model haiku` resolves to claude-haiku-5-5.
* The assistant lines show the message_start usage (output_tokens 1); result.usage and modelUsage
  sum the message_delta usage, so scripted numbers come back exactly there.
* `--resume=<sid> /compact [instructions]` sends one request that carries the full tool list; its
  last user message asks to "create a detailed summary of the conversation so far", with the
  instructions appended. It succeeds with rc 0 and result num_turns 0. A failed compaction (an error
  step, or a session with nothing to compact) also ends rc 0 and is_error false: only the status
  frame compact_result "failed" and the result text "Compaction failed · ..." tell.
* API errors, with CLAUDE_CODE_MAX_RETRIES=0: one request, rc 1 after about 0.4 s. claude prints a
  synthetic assistant line (model "<synthetic>", is_api_error_message true, api_error_status,
  api_error_type, top-level "error") and a result with subtype "success", is_error true:
    400 prompt_too_long  error "invalid_request", terminal_reason "prompt_too_long",
                         result "Prompt is too long" (autocompact off)
    429                  error "rate_limit", terminal_reason "api_error",
                         result "API Error: Request rejected (429) · <message>"
    529                  error "server_error" (api_retry frames say "overloaded"), terminal_reason
                         "api_error", result "API Error: 529 Overloaded. This is a server-side issue..."
    401                  error "authentication_failed", terminal_reason "api_error",
                         result "Invalid API key · Fix external API key"
    500                  error "server_error", terminal_reason "api_error",
                         result "API Error: 500 Internal server error. ..."
  With CLAUDE_CODE_MAX_RETRIES=1 a 429 or 529 is retried once after about 0.5 s, announced by a
  system/api_retry frame; unset, claude retries up to 10 times, waiting about 0.6, 1.2, 2.3 s and
  so on (doubling). x-should-retry: false (the
  "should_retry": false step key) also stops retries whatever the environment says.
* Rate limits (a "limit" step, claude 2.1.330; tests/recordings/rate-limit-*.jsonl): with an API
  key a 429 is retried after retry-after when that is short (2 s: one system/api_retry, then the
  answer), and not at all when it is long (600 s or 3600 s: rc 1 at once); the stream never names a
  reset time. With CLAUDE_CODE_OAUTH_TOKEN instead of the key (a Claude login; claude then sends
  "authorization: Bearer" to ANTHROPIC_BASE_URL) a 429 is never retried: claude prints a
  rate_limit_event (rate_limit_info.status "rejected", resetsAt in unix seconds, rateLimitType),
  then the synthetic assistant line (error "rate_limit", api_error "usage_limit_reached",
  api_error_params.rate_limit_info.resetsAt, text "You've hit your 5-hour limit · resets 8:16pm
  (UTC)") and an is_error result, rc 1. An answer carrying unified-status allowed_warning gives a
  rate_limit_event with that status before the assistant line.
* SIGINT while a step is delayed: claude prints the user line "[Request interrupted by user]" and
  exits rc 0 within about 50 ms. Usually no result follows, but in roughly one run in eight a result
  error_during_execution with terminal_reason "aborted_streaming" comes first.
* A text turn takes about 0.4 s; a tool turn through a Python stdio MCP server 1.3 to 1.7 s
  (mostly the server's import time). Retries wait about 0.5 s (retry_delay_ms).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable

DEFAULT_USAGE = {
    "input_tokens": 10,
    "output_tokens": 5,
    "cache_read_input_tokens": 0,
    "cache_creation_input_tokens": 0,
}

# status -> (error.type, default message), as the real API words them.
ERRORS = {
    400: ("invalid_request_error", "invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
ERROR_KINDS = {
    "prompt_too_long": (400, "invalid_request_error", "prompt is too long: 250123 tokens > 200000 maximum"),
}

# The compaction request ends with this instruction (claude's own summary prompt).
COMPACT_RE = re.compile(r"create a detailed summary of the conversation|summary of the conversation so far", re.I)
DEFERRED_RE = re.compile(r"deferred tools are now available via ToolSearch\b[^\n]*\n((?:[^\n]+\n?)+)")
SYSTEM_REMINDER_RE = re.compile(r"\A\s*<system-reminder>.*</system-reminder>\s*\Z", re.S)


def _new_id(prefix: str) -> str:
    return f"{prefix}_stub_{uuid.uuid4().hex[:24]}"


def _agent_pattern(agent: str | re.Pattern | None) -> re.Pattern | None:
    """A bare name must appear in the system prompt as a whole word; anything else is a regex."""
    if agent is None or isinstance(agent, re.Pattern):
        return agent
    if re.fullmatch(r"[\w.-]+", agent):
        return re.compile(r"(?<![\w.-])" + re.escape(agent) + r"(?![\w-]|\.\w)")
    return re.compile(agent, re.S)


class Rule:
    def __init__(self, match: str | re.Pattern, steps: list[dict], agent=None, times: int | None = None,
                 kind: str = "prompt"):
        if kind not in ("prompt", "compact"):
            raise ValueError(f"unknown rule kind {kind!r}")
        if not steps:
            raise ValueError("a rule needs at least one step")
        self.match = match if isinstance(match, re.Pattern) else re.compile(match, re.S)
        self.steps = [dict(s) for s in steps]
        self.agent = _agent_pattern(agent)
        self.times = times
        self.kind = kind
        self.fired = 0

    def applies(self, text: str, system: str) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.agent is not None and not self.agent.search(system):
            return False
        return self.match.search(text) is not None

    def __repr__(self) -> str:
        return f"Rule({self.match.pattern!r}, agent={self.agent and self.agent.pattern!r}, fired={self.fired})"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
    return "\n".join(parts)


def _prompt_text(content: Any) -> str:
    """The user's own text in a message: text blocks that are not pure <system-reminder> blocks."""
    if isinstance(content, str):
        return content
    parts = [b.get("text", "") for b in content or []
             if isinstance(b, dict) and b.get("type") == "text"]
    own = [p for p in parts if not SYSTEM_REMINDER_RE.match(p)]
    return "\n".join(own if own else parts)


def _tool_result_ids(content: Any) -> list[str]:
    if isinstance(content, str):
        return []
    return [b.get("tool_use_id") for b in content or []
            if isinstance(b, dict) and b.get("type") == "tool_result"]


class Stub:
    """The scripted API; see the module docstring."""

    def __init__(self, port: int = 0, *, verbose: bool = False):
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._rules: list[Rule] = []
        self._issued: dict[str, tuple[Rule, int]] = {}
        self._requests: list[dict] = []
        self.unknown_paths: list[str] = []
        self.verbose = verbose
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._server = _Server(("127.0.0.1", port), _make_handler(self))
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    # ----- lifecycle
    def start(self) -> "Stub":
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name="anthropic-stub",
                                            kwargs={"poll_interval": 0.1}, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> "Stub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----- scripting
    def add_rule(self, match: str | re.Pattern, steps: list[dict], agent: str | re.Pattern | None = None,
                 times: int | None = None, kind: str = "prompt") -> Rule:
        rule = Rule(match, steps, agent=agent, times=times, kind=kind)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()
            self._issued.clear()

    # ----- the request log
    @property
    def requests(self) -> list[dict]:
        with self._lock:
            return list(self._requests)

    def main_requests(self) -> list[dict]:
        return [r for r in self.requests if r["kind"] == "prompt"]

    def tool_results(self, agent: str | None = None) -> list[str]:
        """Every tool_result text claude sent; with `agent`, only that agent's claude's
        (its name is in the system prompt)."""
        texts = []
        for req in self.requests:
            if agent and agent not in req["system"]:
                continue
            for msg in req["body"].get("messages", []):
                content = msg.get("content") if isinstance(msg, dict) else None
                for block in content if isinstance(content, list) else []:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        inner = block.get("content")
                        texts.append(" ".join(b.get("text", "") for b in inner
                                              if isinstance(b, dict))
                                     if isinstance(inner, list) else str(inner))
        return texts

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float = 10.0) -> dict:
        """The first logged request (past or future) for which predicate is true."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for entry in self._requests[seen:]:
                    if predicate(entry):
                        return entry
                seen = len(self._requests)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching request within %.1fs" % timeout)
                self._cond.wait(left)

    def _log(self, entry: dict) -> None:
        with self._cond:
            self._requests.append(entry)
            self._cond.notify_all()
        if self.verbose:
            short = {k: v for k, v in entry.items() if k not in ("body", "system", "system_turns", "headers")}
            print("stub:", json.dumps(short)[:400], file=sys.stderr, flush=True)

    # ----- choosing an answer
    def _choose(self, entry: dict) -> tuple[dict, Rule | None, int | None]:
        """The step answering this request, and the rule and index it came from."""
        with self._lock:
            if entry["kind"] == "compact":
                for rule in self._rules:
                    if rule.kind == "compact" and rule.applies(entry["last_user_text"], entry["system"]):
                        rule.fired += 1
                        return rule.steps[0], rule, 0
                return {"text": "<summary>\nThe conversation so far was scripted test traffic.\n</summary>"}, None, None
            if entry["kind"] != "prompt":
                return {"text": "ok"}, None, None
            if entry["has_tool_result"]:
                for tid in reversed(entry["tool_result_ids"]):
                    if tid in self._issued:
                        rule, idx = self._issued[tid]
                        if idx + 1 < len(rule.steps):
                            return rule.steps[idx + 1], rule, idx + 1
                        return {"text": "ok"}, rule, None
                return {"text": "ok"}, None, None
            for rule in self._rules:
                if rule.kind == "prompt" and rule.applies(entry["last_user_text"], entry["system"]):
                    rule.fired += 1
                    return rule.steps[0], rule, 0
            return {"text": "ok"}, None, None

    def _remember_tools(self, tool_ids: list[str], rule: Rule | None, idx: int | None) -> None:
        if rule is not None and idx is not None:
            with self._lock:
                for tool_id in tool_ids:
                    self._issued[tool_id] = (rule, idx)

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the stub is stopping; True if the full delay passed."""
        return not self._stopping.wait(seconds)


def describe_request(path: str, body: dict) -> dict:
    system = body.get("system")
    if isinstance(system, list):
        system = "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
    system = system or ""
    messages = body.get("messages") or []
    # claude appends mid-conversation "system" role turns after the user's message, so the
    # prompt is the last message whose role is "user", not necessarily the last message.
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    last_content = users[-1].get("content") if users else None
    system_turns = "\n".join(_text_of(m.get("content")) for m in messages
                              if isinstance(m, dict) and m.get("role") == "system")
    result_ids = _tool_result_ids(last_content)
    last_user_text = _prompt_text(last_content) if last_content is not None else ""
    tools = body.get("tools") or []
    if result_ids:
        kind = "prompt" if tools else "aux"
    elif COMPACT_RE.search(_text_of(last_content)):
        kind = "compact"  # the summary request carries the full tool list, so test it first
    elif not tools:
        kind = "aux"
    else:
        kind = "prompt"
    return {
        "path": path,
        "kind": kind,
        "model": body.get("model"),
        "system": system,
        "system_turns": system_turns,
        "last_user_text": last_user_text,
        "tool_names": [t.get("name") for t in tools if isinstance(t, dict)],
        "deferred_tool_names": _deferred_tools(system_turns),
        "has_tool_result": bool(result_ids),
        "tool_result_ids": result_ids,
        "stream": bool(body.get("stream")),
        "n_messages": len(messages),
        "time": time.time(),
        "body": body,
    }


def _deferred_tools(text: str) -> list[str]:
    m = DEFERRED_RE.search(text)
    return [line.strip() for line in m.group(1).splitlines() if line.strip()] if m else []


def _usage(step: dict) -> dict:
    usage = dict(DEFAULT_USAGE)
    usage.update(step.get("usage") or {})
    return usage


def _tool_calls(step: dict) -> list[dict]:
    """The tool calls of a step: {"tool", "input"} or {"tools": [{"name", "input"}, ...]}."""
    if "tool" in step:
        return [{"name": step["tool"], "input": step.get("input") or {}}]
    return [{"name": t["name"], "input": t.get("input") or {}} for t in step.get("tools") or []]


def _message(step: dict, tool_ids: list[str]) -> tuple[list[dict], str]:
    content = []
    if step.get("text") is not None:
        content.append({"type": "text", "text": str(step["text"])})
    calls = _tool_calls(step)
    for call, tool_id in zip(calls, tool_ids):
        content.append({"type": "tool_use", "id": tool_id, "name": call["name"], "input": call["input"]})
    if calls:
        return content, "tool_use"
    if not content:
        content.append({"type": "text", "text": "ok"})
    return content, step.get("stop_reason", "end_turn")


def _error_body(step: dict) -> tuple[int, dict]:
    status = int(step["error"])
    etype, message = ERRORS.get(status, ("api_error", "error"))
    kind = step.get("kind")
    if kind:
        status, etype, message = ERROR_KINDS[kind]
    elif status == 429 and "limit" in step:
        message = RATE_LIMIT_MESSAGES[step["limit"].get("plan", "api")]
    message = step.get("message", message)
    return status, {"type": "error", "error": {"type": etype, "message": message},
                    "request_id": _new_id("req")}


RATE_LIMIT_MESSAGES = {
    "api": "This request would exceed the rate limit for your organization of 50 requests per minute.",
    "subscription": "This request would exceed your account's rate limit. Please try again later.",
}
UNIFIED_WINDOWS = {"five_hour": "5h", "seven_day": "7d"}


def _rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def rate_limit_headers(limit: dict, now: float | None = None) -> dict:
    """The response headers of a request that hit (or, with status "allowed", came near) a limit.

    Names and formats as the real API sends them: an API key gets retry-after (whole seconds)
    and per-minute anthropic-ratelimit-* counters with RFC 3339 resets; a subscription login
    gets anthropic-ratelimit-unified-* windows with unix-second resets.
    """
    now = time.time() if now is None else now
    reset = float(limit["reset_at"]) if "reset_at" in limit else now + float(limit.get("reset_in", 60))
    status = limit.get("status", "rejected")
    rejected = status == "rejected"
    headers = {}
    if rejected:
        headers["retry-after"] = str(max(0, int(-(-(reset - now) // 1))))
    if limit.get("plan", "api") == "api":
        for kind, size in (("requests", 50), ("tokens", 30000), ("input-tokens", 20000),
                           ("output-tokens", 10000)):
            headers[f"anthropic-ratelimit-{kind}-limit"] = str(size)
            headers[f"anthropic-ratelimit-{kind}-remaining"] = "0" if rejected and kind == "requests" else str(size // 2)
            headers[f"anthropic-ratelimit-{kind}-reset"] = _rfc3339(reset)
        return headers
    window = limit.get("window", "five_hour")
    later = int(now + 7 * 24 * 3600)
    headers.update({
        "anthropic-ratelimit-unified-status": status,
        "anthropic-ratelimit-unified-reset": str(int(reset)),
        "anthropic-ratelimit-unified-representative-claim": window,
        "anthropic-ratelimit-unified-fallback-percentage": "0.5",
        "anthropic-ratelimit-unified-overage-status": "rejected",
        "anthropic-ratelimit-unified-overage-disabled-reason": "org_level_disabled",
    })
    for name, short in UNIFIED_WINDOWS.items():
        hit = name == window
        headers[f"anthropic-ratelimit-unified-{short}-status"] = status if hit else "allowed"
        headers[f"anthropic-ratelimit-unified-{short}-reset"] = str(int(reset) if hit else later)
        headers[f"anthropic-ratelimit-unified-{short}-utilization"] = (
            ("1.02" if rejected else "0.91") if hit else "0.3")
    return headers


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that goes away (claude killed or interrupted) is normal here.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _make_handler(stub: Stub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "anthropic-stub"
        sys_version = ""

        def log_message(self, fmt, *args):  # the request log replaces the access log
            pass

        # ----- plumbing
        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    data += self.rfile.read(size)
                    self.rfile.readline()
            else:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            enc = self.headers.get("Content-Encoding", "").lower()
            if enc == "gzip":
                data = gzip.decompress(data)
            elif enc == "deflate":
                data = zlib.decompress(data)
            return data

        def _send_json(self, status: int, obj: Any, extra: dict | None = None) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("request-id", (obj.get("request_id") if isinstance(obj, dict) else None)
                             or _new_id("req"))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def _unknown(self, body: bytes = b"") -> None:
            stub.unknown_paths.append(f"{self.command} {self.path}")
            stub._log({"path": self.path, "method": self.command, "kind": "unknown", "time": time.time(),
                       "headers": dict(self.headers.items()), "raw": body[:4000]})
            print(f"anthropic-stub: unknown request {self.command} {self.path}", file=sys.stderr, flush=True)
            if self.command == "HEAD":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send_json(404, {"type": "error", "error": {"type": "not_found_error",
                                                              "message": f"Not found: {self.path}"}})

        # ----- verbs
        def do_GET(self):
            path = self.path.split("?")[0].rstrip("/")
            if path == "/api/hello":
                stub._log({"path": self.path, "method": "GET", "kind": "hello", "time": time.time()})
                self._send_json(200, {"message": "hello"})
            elif path == "/v1/models":
                stub._log({"path": self.path, "method": "GET", "kind": "models", "time": time.time()})
                self._send_json(200, {"data": [_model_obj(m) for m in MODELS], "has_more": False,
                                      "first_id": MODELS[0], "last_id": MODELS[-1]})
            elif path.startswith("/v1/models/"):
                stub._log({"path": self.path, "method": "GET", "kind": "models", "time": time.time()})
                self._send_json(200, _model_obj(path.rsplit("/", 1)[1]))
            else:
                self._unknown()

        def do_HEAD(self):
            if self.path.split("?")[0] == "/api/hello":
                stub._log({"path": self.path, "method": "HEAD", "kind": "hello", "time": time.time()})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._unknown()

        def do_POST(self):
            raw = self._read_body()
            path = self.path.split("?")[0].rstrip("/")
            if path == "/v1/messages/count_tokens":
                stub._log({"path": self.path, "method": "POST", "kind": "count_tokens", "time": time.time()})
                self._send_json(200, {"input_tokens": max(1, len(raw) // 4)})
                return
            if path != "/v1/messages":
                self._unknown(raw)
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._send_json(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                                  "message": "body is not JSON"}})
                return
            entry = describe_request(self.path, body)
            entry["method"] = "POST"
            entry["headers"] = dict(self.headers.items())
            step, rule, idx = stub._choose(entry)
            entry["rule"] = rule.match.pattern if rule else None
            entry["step"] = idx
            entry["answer"] = step
            stub._log(entry)
            if step.get("delay") and not stub._sleep(float(step["delay"])):
                return
            try:
                if "error" in step:
                    status, err = _error_body(step)
                    extra = _extra_headers(step)
                    if "should_retry" in step:
                        extra["x-should-retry"] = "true" if step["should_retry"] else "false"
                    if "retry_after" in step:
                        extra["retry-after"] = str(step["retry_after"])
                    self._send_json(status, err, extra)
                    return
                tool_ids = [_new_id("toolu") for _ in _tool_calls(step)]
                stub._remember_tools(tool_ids, rule, idx)
                model = body.get("model") or "claude-stub"
                if body.get("stream"):
                    self._stream(step, model, tool_ids, _extra_headers(step))
                else:
                    content, stop = _message(step, tool_ids)
                    usage = _usage(step)
                    msg_id = _new_id("msg")
                    self._send_json(200, {"id": msg_id, "type": "message", "role": "assistant",
                                          "model": model, "content": content, "stop_reason": stop,
                                          "stop_sequence": None, "usage": usage},
                                    _extra_headers(step))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        # ----- SSE
        def _chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def _event(self, name: str, payload: dict) -> None:
            self._chunk(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())

        def _stream(self, step: dict, model: str, tool_ids: list[str], extra: dict) -> None:
            content, stop = _message(step, tool_ids)
            usage = _usage(step)
            msg_id = _new_id("msg")
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("request-id", _new_id("req"))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            start_usage = dict(usage, output_tokens=1)
            self._event("message_start", {"type": "message_start", "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None, "usage": start_usage}})
            self._event("ping", {"type": "ping"})
            for index, block in enumerate(content):
                if block["type"] == "text":
                    self._event("content_block_start", {"type": "content_block_start", "index": index,
                                                        "content_block": {"type": "text", "text": ""}})
                    for piece in _pieces(block["text"]):
                        self._event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                            "delta": {"type": "text_delta", "text": piece}})
                else:
                    self._event("content_block_start", {"type": "content_block_start", "index": index,
                                                        "content_block": {"type": "tool_use", "id": block["id"],
                                                                          "name": block["name"], "input": {}}})
                    for piece in _pieces(json.dumps(block["input"])):
                        self._event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                            "delta": {"type": "input_json_delta",
                                                                      "partial_json": piece}})
                self._event("content_block_stop", {"type": "content_block_stop", "index": index})
            self._event("message_delta", {"type": "message_delta",
                                          "delta": {"stop_reason": stop, "stop_sequence": None},
                                          "usage": usage})
            self._event("message_stop", {"type": "message_stop"})
            self._chunk(b"")

    return Handler


def _extra_headers(step: dict) -> dict:
    """A step's own headers: its limit's, then any it names itself."""
    extra = rate_limit_headers(step["limit"]) if "limit" in step else {}
    extra.update({str(k): str(v) for k, v in (step.get("headers") or {}).items()})
    return extra


def _pieces(text: str, size: int = 24) -> Iterable[str]:
    if not text:
        return [""]
    return [text[i:i + size] for i in range(0, len(text), size)]


MODELS = ["claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1"]


def _model_obj(model_id: str) -> dict:
    return {"type": "model", "id": model_id, "display_name": model_id, "created_at": "2025-01-01T00:00:00Z"}


# ----- running claude against the stub

def find_claude() -> str:
    env = os.environ.get("HYPERHIVE_TEST_CLAUDE")
    if env:
        return env
    return str(Path(__file__).resolve().parents[1] / ".cache/claude/node_modules/.bin/claude")


def claude_env(stub: Stub, home: str | os.PathLike) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "CLAUDE_CODE_SESSION_ID")}
    env.update({
        "ANTHROPIC_BASE_URL": stub.url,
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "HOME": str(home),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    })
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Scripted Anthropic Messages API on 127.0.0.1.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--script", help='JSON file: a list of rules, or {"rules": [...]}; '
                                     'each rule {"match", "steps", "agent"?, "times"?, "kind"?}')
    ap.add_argument("--quiet", action="store_true", help="do not print each request to stderr")
    args = ap.parse_args(argv)
    stub = Stub(port=args.port, verbose=not args.quiet)
    if args.script:
        script = json.loads(Path(args.script).read_text())
        for rule in script["rules"] if isinstance(script, dict) else script:
            stub.add_rule(rule["match"], rule["steps"], agent=rule.get("agent"), times=rule.get("times"),
                          kind=rule.get("kind", "prompt"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stub.start()
    print(f"anthropic-stub listening on {stub.url}", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
