"""Understand the stream-json output of one `claude -p` turn (pure parsing, no IO).

`TurnReader.feed()` takes stdout lines one at a time and keeps what the harness needs
(session id, MCP server status, tool counts, sends by recipient class, token usage, the
`result` event, interrupts, API errors, compaction status, when a rate limit lifts).
`classify()` turns a finished reader into a turn outcome, `summarise()` turns one event
into a compact dict for the live per-agent page.

Outcomes: ok, failed, prompt_too_long, cancelled, rate_limited, auth_failed.

Summaries (`summarise(event)`), keyed by "t":

  t              other keys
  text           text
  thinking       text                         (empty thinking blocks give None)
  tool_use       name, input, id              (long strings inside input are clipped)
  tool_result    id, text, is_error           (text flattened from content arrays, clipped)
  error          error, status, text          (claude's synthetic assistant line for an API error)
  interrupted    -                            ("[Request interrupted by user...]")
  user           text                         (plain strings: compaction summary, command output)
  system         subtype, plus per subtype:
                   api_retry: attempt, max, status, error, delay_ms
                   status: status, compact_result, compact_error
                   compact_boundary: trigger, pre_tokens, post_tokens
                   permission_denied: name, id, text
                   rate_limit: status, resets_at, window   (claude's rate_limit_event)
  result         subtype, is_error, reason, text, turns, cost, ms
  blocks         items (a list of the above, for an assistant line carrying several blocks)

init, unknown event types and uninteresting system frames give None. Text values are clipped
to TEXT_LIMIT characters.
"""

import json

from .names import BROADCAST, MANAGER, OPERATOR

OUTCOMES = ("ok", "failed", "prompt_too_long", "cancelled", "rate_limited", "auth_failed")
USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
TEXT_LIMIT = 4000
NOTE_LIMIT = 300
HYPERHIVE_SERVER = "hyperhive"
INTERRUPT_MARKER = "[Request interrupted by user"
PROMPT_TOO_LONG_TEXT = "Prompt is too long"
# A local pre-flight refusal: the same remedy (compaction) applies.
PROMPT_TOO_LONG_REASONS = ("prompt_too_long", "blocking_limit")
ABORT_REASONS = ("aborted_tools", "aborted_streaming")
SYSTEM_SUBTYPES_SHOWN = ("api_retry", "status", "compact_boundary", "permission_denied")
SEND_TOOL = f"mcp__{HYPERHIVE_SERVER}__send"
SEND_CLASSES = ("peer", "operator", "manager", "broadcast")
# A reset time past this is in milliseconds, not seconds (the year 5138 in seconds).
MS_RESET = 1e11


def parse_line(line):
    """One stdout line as a dict, or None for blank, non-JSON or non-object lines."""
    if isinstance(line, (bytes, bytearray)):
        line = bytes(line).decode("utf-8", errors="replace")
    if not isinstance(line, str):
        return None
    line = line.strip()
    # claude prints only objects; anything else is noise from a wrapper or a crash.
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _dict(value):
    return value if isinstance(value, dict) else {}


def _list(value):
    return value if isinstance(value, list) else []


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _clip(text, limit=TEXT_LIMIT):
    text = text if isinstance(text, str) else str(text)
    return text if len(text) <= limit else text[:limit] + "…"


def recipient_class(to):
    """peer, operator, manager or broadcast for a send's `to`; None when it names nothing."""
    if not isinstance(to, str) or not to:
        return None
    return {BROADCAST: "broadcast", OPERATOR: "operator", MANAGER: "manager"}.get(to, "peer")


def reset_time(value):
    """A reset time claude printed, as unix seconds; None for anything that is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    seconds = value / 1000 if value > MS_RESET else value
    return float(seconds) if 0 < seconds < MS_RESET else None


def _usage_of(raw):
    raw = _dict(raw)
    return {key: _int(raw.get(key)) for key in USAGE_KEYS}


class TurnReader:
    """Accumulates the state of one turn from claude's stdout lines."""

    def __init__(self):
        self.session_id = None
        self.mcp_servers = None  # list from the latest init; None until an init arrives
        self.tool_calls = {}  # tool name -> number of calls
        self.sends = {}  # recipient class -> number of send calls
        self.ctx_tokens = 0  # context size after the last real assistant message
        self.result = None  # the last `result` event
        self.interrupted = False
        self.api_error = None  # `error` of claude's synthetic assistant line
        self.api_error_status = None
        self.retry_error = None  # `error` of the latest system/api_retry
        self.retry_status = None
        self.compacting = False
        self.compact_result = None  # "success" | "failed" once claude reports it
        self.compact_error = None
        # When a refused rate limit lifts (unix seconds), where claude says: on a Claude
        # login only; an API key's 429 carries no reset in the stream.
        self.rate_limit_reset = None
        self.last_text = None
        self._tool_ids = set()
        self._usage_by_message = {}

    def feed(self, line):
        """Parse one line and track it; return the event dict, or None for a skipped line."""
        event = parse_line(line)
        if event is None:
            return None
        try:
            self._track(event)
        except (AttributeError, TypeError, ValueError, KeyError):
            # Odd shapes from a newer claude must not end the turn; the event is still shown.
            pass
        return event

    def _track(self, event):
        if isinstance(event.get("session_id"), str):
            self.session_id = event["session_id"]
        kind = event.get("type")
        if kind == "system":
            self._track_system(event)
        elif kind == "assistant":
            self._track_assistant(event)
        elif kind == "user":
            self._track_user(event)
        elif kind == "result":
            self.result = event
        elif kind == "rate_limit_event":
            self._track_rate_limit(_dict(event.get("rate_limit_info")))

    def _track_rate_limit(self, info):
        # claude reports every limit it hears of; only a refusal ends the turn.
        if info.get("status") == "rejected":
            self.rate_limit_reset = reset_time(info.get("resetsAt")) or self.rate_limit_reset

    def _track_system(self, event):
        subtype = event.get("subtype")
        if subtype == "init":
            self.mcp_servers = _list(event.get("mcp_servers"))
        elif subtype == "api_retry":
            self.retry_error = event.get("error")
            self.retry_status = event.get("error_status")
        elif subtype == "status":
            if event.get("status") == "compacting":
                self.compacting = True
            if event.get("compact_result") is not None:
                self.compacting = False
                self.compact_result = event.get("compact_result")
                self.compact_error = event.get("compact_error")

    def _track_assistant(self, event):
        if event.get("error"):
            self.api_error = event["error"]
            self.api_error_status = event.get("api_error_status")
            info = _dict(_dict(event.get("api_error_params")).get("rate_limit_info"))
            if event["error"] == "rate_limit" and info:
                # The error line is the refusal itself, whatever status it repeats.
                self._track_rate_limit({**info, "status": "rejected"})
        message = _dict(event.get("message"))
        for block in _list(message.get("content")):
            self._track_block(_dict(block))
        # API errors come as synthetic messages with zero usage: they say nothing about the
        # context size, and subagent messages describe another context.
        if message.get("model") == "<synthetic>" or event.get("parent_tool_use_id"):
            return
        if "usage" in message:
            usage = _usage_of(message["usage"])
            # Every content block of one API message repeats that message's usage.
            self._usage_by_message[message.get("id") or id(message)] = usage
            self.ctx_tokens = (
                usage["input_tokens"]
                + usage["cache_read_input_tokens"]
                + usage["cache_creation_input_tokens"]
            )

    def _track_block(self, block):
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            self.last_text = block["text"]
        elif block.get("type") == "tool_use":
            tool_id = block.get("id")
            if tool_id in self._tool_ids:
                return
            self._tool_ids.add(tool_id)
            name = str(block.get("name") or "?")
            self.tool_calls[name] = self.tool_calls.get(name, 0) + 1
            if name == SEND_TOOL:
                self._track_send(_dict(block.get("input")))

    def _track_send(self, args):
        # What claude asked for, not what the host accepted: a refused send still
        # shows an agent trying to reach someone.
        kind = recipient_class(args.get("to"))
        if kind is not None:
            self.sends[kind] = self.sends.get(kind, 0) + 1

    def _track_user(self, event):
        for block in _list(_dict(event.get("message")).get("content")):
            text = _dict(block).get("text")
            if isinstance(text, str) and text.startswith(INTERRUPT_MARKER):
                self.interrupted = True

    @property
    def hyperhive_connected(self):
        return self.mcp_status(HYPERHIVE_SERVER) == "connected"

    def mcp_status(self, name):
        """Status claude reported for an MCP server, or None when it was not listed."""
        for server in self.mcp_servers or ():
            if _dict(server).get("name") == name:
                return server.get("status")
        return None

    @property
    def total_cost_usd(self):
        """claude's cumulative session cost from the result, or None without a result."""
        cost = _dict(self.result).get("total_cost_usd")
        return cost if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None

    def usage_totals(self):
        """This turn's token counts: the result's usage, else the per-message sum."""
        if self.result is not None and isinstance(self.result.get("usage"), dict):
            return _usage_of(self.result["usage"])
        totals = dict.fromkeys(USAGE_KEYS, 0)
        for usage in self._usage_by_message.values():
            for key in USAGE_KEYS:
                totals[key] += usage[key]
        return totals

    @property
    def tool_call_count(self):
        return sum(self.tool_calls.values())


def classify(reader, rc, signalled, require_hyperhive=True):
    """(outcome, note) for a finished turn. `rc` is the exit code (negative: killed by signal).

    `require_hyperhive` makes a turn without a connected hyperhive MCP server a failure,
    since the agent cannot reach its inbox without it.
    """
    result = reader.result
    if result is None:
        return _without_result(reader, rc, signalled)
    is_error = bool(result.get("is_error"))
    reason = result.get("terminal_reason")
    text = result.get("result") if isinstance(result.get("result"), str) else ""
    if signalled and (is_error or reason in ABORT_REASONS):
        return "cancelled", "Cancelled by the operator."
    if reason in PROMPT_TOO_LONG_REASONS or (is_error and text.startswith(PROMPT_TOO_LONG_TEXT)):
        return "prompt_too_long", _short(text or "The prompt is too long for the model.")
    if is_error:
        return _classify_error(reader, result, text)
    if require_hyperhive and not reader.hyperhive_connected:
        status = reader.mcp_status(HYPERHIVE_SERVER) or "not listed"
        return "failed", f"The hyperhive MCP server was {status}, so its tools were missing."
    return "ok", ""


def _without_result(reader, rc, signalled):
    if signalled:
        return "cancelled", "Cancelled by the operator."
    if rc is not None and rc < 0:
        why = f"claude was killed by signal {-rc} before it finished the turn."
    elif reader.interrupted:
        why = f"claude was interrupted and exited (code {rc}) without a result."
    else:
        why = f"claude exited with code {rc} without a result."
    return "failed", why


def _classify_error(reader, result, text):
    status = result.get("api_error_status") or reader.api_error_status or reader.retry_status
    kind = reader.api_error or reader.retry_error
    if status == 429 or kind == "rate_limit":
        return "rate_limited", _short(text or "The API rate limit was hit.")
    if status == 401 or kind == "authentication_failed":
        return "auth_failed", _short(text or "claude could not authenticate.")
    errors = [str(e) for e in _list(result.get("errors")) if e]
    detail = "; ".join(errors) or text or str(result.get("subtype") or "error")
    return "failed", _short(detail)


def _short(text):
    return _clip(" ".join(str(text).split()), NOTE_LIMIT)


def summarise(event):
    """A compact display form of one event (see the module docstring), or None."""
    if not isinstance(event, dict):
        return None
    kind = event.get("type")
    if kind == "assistant":
        return _summarise_assistant(event)
    if kind == "user":
        return _summarise_user(event)
    if kind == "system":
        return _summarise_system(event)
    if kind == "result":
        return _summarise_result(event)
    if kind == "rate_limit_event":
        return _summarise_rate_limit(_dict(event.get("rate_limit_info")))
    return None


def _summarise_rate_limit(info):
    return {"t": "system", "subtype": "rate_limit", "status": info.get("status"),
            "resets_at": reset_time(info.get("resetsAt")), "window": info.get("rateLimitType")}


def _summarise_assistant(event):
    message = _dict(event.get("message"))
    blocks = _list(message.get("content"))
    if event.get("error"):
        text = " ".join(_flatten(blocks).split()) if blocks else ""
        return {
            "t": "error",
            "error": event.get("error"),
            "status": event.get("api_error_status"),
            "text": _clip(text),
        }
    return _one_or_many([_summarise_block(_dict(b)) for b in blocks])


def _summarise_block(block):
    kind = block.get("type")
    if kind == "text":
        return {"t": "text", "text": _clip(block.get("text") or "")}
    if kind == "thinking" and block.get("thinking"):
        return {"t": "thinking", "text": _clip(block["thinking"])}
    if kind in ("tool_use", "server_tool_use"):
        return {
            "t": "tool_use",
            "name": block.get("name"),
            "input": _clip_values(block.get("input")),
            "id": block.get("id"),
        }
    if kind == "tool_result":
        return {
            "t": "tool_result",
            "id": block.get("tool_use_id"),
            "text": _clip(_flatten(block.get("content"))),
            "is_error": bool(block.get("is_error")),
        }
    return None


def _summarise_user(event):
    content = _dict(event.get("message")).get("content")
    if isinstance(content, str):
        return {"t": "user", "text": _clip(content)}
    summaries = []
    for block in _list(content):
        block = _dict(block)
        text = block.get("text")
        if block.get("type") == "text" and isinstance(text, str):
            if text.startswith(INTERRUPT_MARKER):
                summaries.append({"t": "interrupted"})
            else:
                summaries.append({"t": "user", "text": _clip(text)})
        else:
            summaries.append(_summarise_block(block))
    return _one_or_many(summaries)


def _one_or_many(summaries):
    summaries = [s for s in summaries if s is not None]
    if not summaries:
        return None
    if len(summaries) == 1:
        return summaries[0]
    return {"t": "blocks", "items": summaries}


def _summarise_system(event):
    subtype = event.get("subtype")
    if subtype not in SYSTEM_SUBTYPES_SHOWN:
        return None
    summary = {"t": "system", "subtype": subtype}
    if subtype == "api_retry":
        summary.update(
            attempt=event.get("attempt"),
            max=event.get("max_retries"),
            status=event.get("error_status"),
            error=event.get("error"),
            delay_ms=event.get("retry_delay_ms"),
        )
    elif subtype == "status":
        summary.update(
            status=event.get("status"),
            compact_result=event.get("compact_result"),
            compact_error=event.get("compact_error"),
        )
    elif subtype == "compact_boundary":
        meta = _dict(event.get("compact_metadata"))
        summary.update(
            trigger=meta.get("trigger"),
            pre_tokens=meta.get("pre_tokens"),
            post_tokens=meta.get("post_tokens"),
        )
    else:
        summary.update(
            name=event.get("tool_name"),
            id=event.get("tool_use_id"),
            text=_clip(event.get("message") or ""),
        )
    return summary


def _summarise_result(event):
    errors = [str(e) for e in _list(event.get("errors")) if e]
    text = event.get("result") if isinstance(event.get("result"), str) else "; ".join(errors)
    return {
        "t": "result",
        "subtype": event.get("subtype"),
        "is_error": bool(event.get("is_error")),
        "reason": event.get("terminal_reason"),
        "text": _clip(text, 500),
        "turns": event.get("num_turns"),
        "cost": event.get("total_cost_usd"),
        "ms": event.get("duration_ms"),
    }


def _flatten(content):
    """Tool result content (a string or an MCP content array) as plain text."""
    if isinstance(content, str):
        return content
    parts = []
    for item in _list(content):
        item = _dict(item)
        if isinstance(item.get("text"), str):
            parts.append(item["text"])
        elif item.get("type"):
            parts.append(f"[{item['type']}]")
    return "\n".join(parts)


def _clip_values(value, limit=TEXT_LIMIT):
    """The tool input with every long string clipped, so one Write call cannot flood the page."""
    if isinstance(value, str):
        return _clip(value, limit)
    if isinstance(value, dict):
        return {key: _clip_values(item, limit) for key, item in value.items()}
    if isinstance(value, list):
        return [_clip_values(item, limit) for item in value]
    return value
