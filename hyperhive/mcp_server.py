"""`hyperhive mcp`: the stdio MCP server claude starts for its hive tools (SPEC §5).

Each tool is a plain `def`: the SDK runs it in a worker thread, where it opens a
fresh connection to the harness socket (`$HYPERHIVE_SOCK`, else
`<hive-dir>/mcp.sock`), sends one request `{"cmd": <tool>, ...args}` and turns
the reply into plain text for the model:

    send(to="alice", body="hi")  ->  {"cmd":"send","to":"alice","body":"hi"}
                                 <-  {"ok":true,"v":1,"id":12}
                                 ->  "sent to alice (message #12)"

An `ok: false` reply becomes an is_error result carrying the host's sentence,
so claude reads the refusal and can act on it. The process keeps no state (it is
started afresh for every turn) and never runs under gevent: the SDK's anyio loop
hangs when the standard library is patched. Nothing here writes to stdout, which
carries the protocol; logs go to journald or stderr.

The format_* functions are pure, so the exact texts are testable without a socket.
"""

import json
import logging
import os
import time
from datetime import datetime, timezone
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from . import journal
from .client import Client, RemoteError

log = logging.getLogger(__name__)

REDELIVERED_BANNER = "[redelivered after harness restart — may already be handled]"
MAX_WAIT = 180
MAX_BATCH = 32
CALL_TIMEOUT = 60
# A parked recv answers after at most MAX_WAIT seconds; this is the slack on top.
RECV_SLACK = 30

INSTRUCTIONS = """\
Tools for talking to the rest of the hive: other agents, the manager and the operator \
(the human at the dashboard). Messages to you queue in your inbox; `recv` takes them, \
`send` writes to others. Questions (`ask`) and reminders (`remind`) answer later as \
messages in your inbox, never inline. When you have nothing useful left to do, wait with \
`recv` and a long `wait_seconds` (up to 180) rather than a shell sleep: a message wakes \
you at once. Results are plain text; a refused call explains why in one sentence."""


# Text for the model ##########################################################

def utc(ts):
    """Unix seconds as `2026-11-22 02:40:12 UTC`."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def span(seconds):
    """A duration as `45s`, `3m 20s`, `2h 5m` or `3d 4h`."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def with_retry_note(text, retries):
    if not retries:
        return text
    what = "retry" if retries == 1 else "retries"
    return f"{text}\n(the hive socket needed {retries} {what}; this result is complete)"


def format_sent(to, reply, in_reply_to=None):
    if to == "*":
        recipients = reply.get("recipients") or []
        ids = reply.get("ids") or []
        if not recipients:
            return "there are no other agents to broadcast to; nothing was sent"
        numbers = ", ".join(f"#{i}" for i in ids)
        return (f"broadcast to {len(recipients)} agent{'s' if len(recipients) != 1 else ''}: "
                f"{', '.join(recipients)} (messages {numbers})")
    thread = f", a reply to #{in_reply_to}" if in_reply_to is not None else ""
    return f"sent to {to} (message #{reply.get('id')}{thread})"


def _system_event(body):
    try:
        data = json.loads(body)
    except ValueError:
        return None
    event = data.get("event") if isinstance(data, dict) else None
    return event if isinstance(event, str) else None


def format_message(m):
    """One message as a block: banner (if redelivered), header, fenced body."""
    lines = []
    if m.get("redelivered"):
        lines.append(REDELIVERED_BANNER)
    header = f"message #{m.get('id')} from {m.get('from')}"
    if m.get("in_reply_to") is not None:
        header += f" (reply to #{m['in_reply_to']})"
    if m.get("from") == "system":
        event = _system_event(m.get("body", ""))
        header += (f" (hive system event `{event}`; the JSON below describes it)" if event
                   else " (hive system notice)")
    lines.append(header)
    if m.get("broadcast"):
        lines.append(f"({m.get('hint') or 'this was a broadcast to every agent'})")
    lines += ["---", m.get("body", ""), "---"]
    return "\n".join(lines)


def format_messages(messages, wait_seconds=None, max_count=None):
    if not messages:
        if wait_seconds:
            waited = min(wait_seconds, MAX_WAIT)
            return (f"(no messages)\nNothing arrived within {span(waited)}. Call recv again "
                    f"with wait_seconds (up to {MAX_WAIT}) to keep waiting; a message that "
                    "arrives wakes you at once.")
        return ("(no messages)\nTo wait for one instead of looking, call recv with "
                f"wait_seconds (up to {MAX_WAIT}); a message that arrives wakes you at once.")
    text = "\n\n".join(format_message(m) for m in messages)
    if len(messages) == (max_count or 1):
        text += "\n\n(there may be more waiting: call recv again to take them)"
    return text


def format_question(reply, to=None):
    who = "the operator" if to in (None, "", "operator") else to
    return (f"question #{reply.get('id')} queued for {who}; the answer will arrive later as "
            "a system message (event question_answered) — do not wait for it inline")


def format_answered(qid):
    return f"answered question #{qid}; the asker gets your answer as a system message"


def format_reminder(reply, now=None):
    now = time.time() if now is None else now
    due = reply.get("due_at")
    rid = reply.get("id")
    if due is None:
        return f"reminder #{rid} set"
    return (f"reminder #{rid} set: it arrives in your inbox (from `reminder`) at {utc(due)}, "
            f"in {span(due - now)}")


def format_status_set(text):
    return f"status set: {text}" if text.strip() else "status cleared"


def format_threads(reply):
    threads = reply.get("threads") or []
    if not threads:
        return "(no open threads: no pending approvals or unanswered questions involve you)"
    lines = []
    for t in threads:
        if t.get("kind") == "approval":
            lines.append(f"approval #{t.get('id')} pending: {t.get('summary')}")
        elif t.get("kind") == "question":
            lines.append(f"question #{t.get('id')} from {t.get('asker')} to "
                         f"{t.get('target') or 'operator'}, unanswered: {t.get('summary')}")
        else:
            lines.append(f"{t.get('kind')} #{t.get('id')}: {t.get('summary')}")
    return "\n".join(lines)


_REPLY_META = ("ok", "v")


def format_whoami(reply):
    name, role = reply.get("name"), reply.get("role")
    lines = [f"you are {name}, a hyperhive {role or 'agent'}"]
    for key, value in reply.items():
        if key not in (*_REPLY_META, "name", "role") and value not in (None, ""):
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


def format_nap(reply, seconds, now=None):
    if reply.get("text"):
        return reply["text"]
    until = reply.get("until")
    if until is None:
        now = time.time() if now is None else now
        until = now + seconds
    return (f"napping until {utc(until)}: finish this turn; messages keep queueing and the "
            "next one after that time wakes you")


def format_spawn_request(name, reply):
    return (f"spawn of {reply.get('name') or name} requested (approval #{reply.get('id')}); "
            "the operator decides, and you get an approval_resolved system message either way")


def format_commit_request(agent, commit_ref, reply):
    return (f"commit {commit_ref} for {agent} submitted (approval #{reply.get('id')}); the "
            "operator decides, and you get an approval_resolved system message either way")


def format_draft(name, reply, agents_dir):
    return (f"draft {name} created: edit {agents_dir}/{name}/config/agent.json (and put "
            f"starting notes in {agents_dir}/{name}/state/notes.md if you like), commit, then "
            f"call request_spawn_commit(name={name!r}, commit_ref=<sha>) to ask the operator "
            f"to boot it. Its page will be on port {reply.get('port')}.")


def format_drafts(reply):
    drafts = reply.get("drafts") or []
    if not drafts:
        return "(no drafts)"
    return "\n".join(f"{d['name']}: config at {d.get('config_sha') or '?'}"
                     + (f" — {d['description']}" if d.get("description") else "")
                     for d in drafts)


_DONE = {"start": "started", "stop": "stopped", "restart": "restarted",
         "rebuild": "rebuilt and restarted"}


def format_lifecycle(verb, name, reply):
    text = f"{reply.get('name') or name} {_DONE[verb]}"
    if "running" in reply:
        text += " (running)" if reply["running"] else " (not running)"
    return text


def format_agents(reply):
    agents = reply.get("agents") or []
    return f"agents: {', '.join(agents)}" if agents else "(no agents)"


# The socket ##################################################################

def socket_path(hive_dir):
    return os.environ.get("HYPERHIVE_SOCK") or os.path.join(hive_dir, "mcp.sock")


class _Hive:
    """One request per call over a fresh connection to the harness."""

    def __init__(self, path, sleep=time.sleep):
        self.path = str(path)
        self.sleep = sleep

    def call(self, cmd, timeout=CALL_TIMEOUT, **fields):
        fields = {k: v for k, v in fields.items() if v is not None}
        started = time.monotonic()
        try:
            reply, retries = Client(self.path).call_retrying(
                cmd, timeout=timeout, sleep=self.sleep, **fields)
        except RemoteError as exc:
            journal.event(log, "tool_call", f"{cmd} refused: {exc}", outcome="refused",
                          tool=cmd, code=exc.code)
            raise ToolError(str(exc)) from None
        except (OSError, ValueError) as exc:
            journal.event(log, "tool_call", f"{cmd}: no answer from {self.path}: {exc}",
                          level=logging.WARNING, outcome="unreachable", tool=cmd)
            raise ToolError(f"the hive socket is not answering: {self.path}: {exc} (gave up "
                            "after retrying for up to a minute; try again later)") from None
        # The harness reports the retries of its own link to the host; count both hops.
        retries += reply.pop("retries", 0) or 0
        journal.event(log, "tool_call", f"{cmd} ok", outcome="ok", tool=cmd, retries=retries,
                      ms=round((time.monotonic() - started) * 1000))
        return reply, retries


# Tools #######################################################################

def _tool(server, name, description):
    return server.tool(name=name, description=description, structured_output=False)


def build_server(socket_path, manager=False, sleep=time.sleep):
    """An MCPServer named `hyperhive` with the agent tools (and the manager's when asked).

    `sleep` is what the client waits with between retries.
    """
    hive = _Hive(socket_path, sleep)
    server = MCPServer("hyperhive", instructions=INSTRUCTIONS)

    @_tool(server, "send", (
        "Send a message to another participant. `to` is an agent's name, `manager` (the "
        "agent that coordinates the others), `operator` (the human at the dashboard) or `*` "
        "(every other agent; use sparingly). Use it to report results, hand work on, or "
        "reply: pass `in_reply_to` with the message number you are answering so the thread "
        "stays readable. Returns the new message's number. If your configuration does not "
        "allow the recipient, the result says so; ask the manager to relay instead."))
    def send(
        to: Annotated[str, Field(description="agent name, 'manager', 'operator' or '*'")],
        body: Annotated[str, Field(description="the message text")],
        in_reply_to: Annotated[int | None, Field(
            description="number of the message this answers, if any")] = None,
    ) -> str:
        reply, retries = hive.call("send", to=to, body=body, in_reply_to=in_reply_to)
        return with_retry_note(format_sent(to, reply, in_reply_to), retries)

    @_tool(server, "recv", (
        "Take messages from your inbox. Without `wait_seconds` (or with 0) it looks and "
        "returns at once, with the waiting messages or '(no messages)'. With a positive "
        f"`wait_seconds` it waits up to that long (at most {MAX_WAIT}) and returns as soon "
        "as a message arrives. When you have nothing else useful to do this turn, a long "
        f"wait (wait_seconds: {MAX_WAIT}) is the way to idle: incoming messages wake you "
        "instantly, which is strictly better than a shell `sleep`. Messages from `system` "
        "are hive events with a JSON body. A message marked as redelivered may already "
        "have been handled before a restart: check before acting twice."))
    def recv(
        wait_seconds: Annotated[float | None, Field(
            ge=0, description=f"0 or absent: look and return at once; positive: wait up to "
                              f"this many seconds (max {MAX_WAIT}) for a message")] = None,
        max: Annotated[int | None, Field(
            ge=1, le=MAX_BATCH,
            description=f"how many messages to take at most (1 to {MAX_BATCH}, default 1)")
        ] = None,
    ) -> str:
        wait = min(wait_seconds or 0, MAX_WAIT)
        reply, retries = hive.call("recv", timeout=wait + RECV_SLACK,
                                   wait_seconds=wait_seconds, max=max)
        text = format_messages(reply.get("messages") or [], wait_seconds, max)
        return with_retry_note(text, retries)

    @_tool(server, "nap", (
        "Sleep for a while: after this turn ends you take no new messages until `seconds` "
        "have passed (or the operator cancels the nap). Messages keep queueing in your inbox "
        "meanwhile and the first one wakes you after the deadline. Use it when you know "
        "nothing useful can happen for a while (waiting on a long build, a rate limit, a "
        "scheduled time); for short waits that a message should cut short, use recv with "
        "wait_seconds instead. Finish your turn after calling it."))
    def nap(
        seconds: Annotated[float, Field(gt=0, description="how long to nap, in seconds")],
    ) -> str:
        reply, retries = hive.call("nap", seconds=seconds)
        return with_retry_note(format_nap(reply, seconds), retries)

    @_tool(server, "ask", (
        "Ask the operator (default) or another agent (`to`) a question. It does not block: "
        "you get the question number at once, and the answer arrives later in your inbox as "
        "a system message (event question_answered). Do not wait for it inline; carry on or "
        "end your turn. `options` are suggested answers (the operator can still type their "
        "own), `multi` allows choosing several, `ttl_seconds` makes the question expire with "
        "the answer '[expired]'."))
    def ask(
        question: Annotated[str, Field(description="the question, self-contained")],
        options: Annotated[list[str] | None, Field(
            description="suggested answers, if the choice is between a few")] = None,
        multi: Annotated[bool | None, Field(
            description="true if several options may be chosen together")] = None,
        ttl_seconds: Annotated[float | None, Field(
            gt=0, description="expire the question after this many seconds")] = None,
        to: Annotated[str | None, Field(
            description="an agent's name to ask instead of the operator")] = None,
    ) -> str:
        reply, retries = hive.call("ask", question=question, options=options, multi=multi,
                                   ttl_seconds=ttl_seconds, to=to)
        return with_retry_note(format_question(reply, to), retries)

    @_tool(server, "answer", (
        "Answer a question another agent asked you (it reached you as a system message with "
        "event question_asked and a question id). Only the agent asked may answer."))
    def answer(
        id: Annotated[int, Field(description="the question's id")],
        answer: Annotated[str, Field(description="your answer")],
    ) -> str:
        reply, retries = hive.call("answer", id=id, answer=answer)
        return with_retry_note(format_answered(id), retries)

    @_tool(server, "remind", (
        "Schedule a message to yourself: it lands in your inbox (from `reminder`) when due "
        "and wakes you like any message. Give exactly one of `delay_seconds` or `at` (unix "
        "seconds). Use it to come back to something later instead of waiting now. A message "
        "over 4096 bytes needs `file_path` (under /state): the text is written there and the "
        "reminder points at the file."))
    def remind(
        message: Annotated[str, Field(description="what to tell your future self")],
        delay_seconds: Annotated[float | None, Field(
            ge=0, description="deliver after this many seconds")] = None,
        at: Annotated[float | None, Field(
            description="deliver at this time, in unix seconds")] = None,
        file_path: Annotated[str | None, Field(
            description="for long texts: a path under /state to write the message to")] = None,
    ) -> str:
        reply, retries = hive.call("remind", message=message, delay_seconds=delay_seconds,
                                   at=at, file_path=file_path)
        return with_retry_note(format_reminder(reply), retries)

    @_tool(server, "set_status", (
        "Set the one-line status shown next to your name on the operator's dashboard, e.g. "
        "what you are working on or waiting for. An empty text clears it. Keep it current "
        "when your focus changes; it is not a message and wakes no one."))
    def set_status(
        text: Annotated[str, Field(description="a short status line, or '' to clear")],
    ) -> str:
        reply, retries = hive.call("set_status", text=text)
        return with_retry_note(format_status_set(text), retries)

    @_tool(server, "open_threads", (
        "List your loose ends: pending approvals and unanswered questions that involve you "
        "(as asker or as the one asked). Check it before starting something that may "
        "already be waiting on an answer."))
    def open_threads() -> str:
        reply, retries = hive.call("open_threads")
        return with_retry_note(format_threads(reply), retries)

    @_tool(server, "whoami", (
        "Say who you are in the hive: your agent name and role. Use it when you need your "
        "own name, e.g. to tell others how to reach you."))
    def whoami() -> str:
        reply, retries = hive.call("whoami")
        return with_retry_note(format_whoami(reply), retries)

    if manager:
        _manager_tools(server, hive)
    return server


def _manager_tools(server, hive):
    name_field = Annotated[str, Field(description="the agent's name")]

    @_tool(server, "request_spawn", (
        "Ask the operator to approve a new agent. Names are 1 to 9 characters: a lowercase "
        "letter, then lowercase letters, digits or '-'. Returns the approval number at once; "
        "the outcome arrives later as an approval_resolved system message (and spawned when "
        "it is running)."))
    def request_spawn(
        name: Annotated[str, Field(description="the new agent's name")],
        description: Annotated[str | None, Field(
            description="what the agent is for, shown to the operator")] = None,
    ) -> str:
        reply, retries = hive.call("request_spawn", name=name, description=description)
        return with_retry_note(format_spawn_request(name, reply), retries)

    @_tool(server, "request_apply_commit", (
        "Submit a commit in an agent's proposed config repo for the operator's approval. "
        "Commit the change first, then pass the agent and the commit (sha or ref). On "
        "approval the host applies it and rebuilds the agent; either way you get an "
        "approval_resolved system message."))
    def request_apply_commit(
        agent: Annotated[str, Field(description="the agent whose config changes")],
        commit_ref: Annotated[str, Field(description="commit sha or ref in its config repo")],
        description: Annotated[str | None, Field(
            description="why, shown to the operator next to the diff")] = None,
    ) -> str:
        reply, retries = hive.call("request_apply_commit", agent=agent,
                                   commit_ref=commit_ref, description=description)
        return with_retry_note(format_commit_request(agent, commit_ref, reply), retries)

    @_tool(server, "request_spawn_draft", (
        "Start a new agent in two steps, when it needs more than the default config: this "
        "creates its config repo and state dir now, with no container and no approval yet. "
        "Edit and commit its agent.json (and seed /state notes), then submit the commit "
        "with request_spawn_commit; the operator sees the diff and approves the first boot. "
        "For an agent that needs nothing special, request_spawn is enough."))
    def request_spawn_draft(
        name: Annotated[str, Field(description="the new agent's name (1-9 chars, a-z 0-9 -)")],
        description: Annotated[str | None, Field(
            description="what the agent is for, shown to the operator")] = None,
    ) -> str:
        reply, retries = hive.call("request_spawn_draft", name=name, description=description)
        agents_dir = os.environ.get("HYPERHIVE_AGENTS_DIR", "/agents")
        return with_retry_note(format_draft(name, reply, agents_dir), retries)

    @_tool(server, "request_spawn_commit", (
        "Ask the operator to boot a draft agent from a commit of its config repo (see "
        "request_spawn_draft). Returns the approval number at once; the outcome arrives as "
        "an approval_resolved system message, then spawned when it runs."))
    def request_spawn_commit(
        name: Annotated[str, Field(description="the draft's name")],
        commit_ref: Annotated[str, Field(description="commit sha or ref in its config repo")],
        description: Annotated[str | None, Field(
            description="what changed from the defaults and why, shown with the diff")] = None,
    ) -> str:
        reply, retries = hive.call("request_spawn_commit", name=name, commit_ref=commit_ref,
                                   description=description)
        return with_retry_note(format_spawn_request(name, reply), retries)

    @_tool(server, "drafts", "List the drafts (agents created with request_spawn_draft that "
                             "have not booted yet) and the commit each config is at.")
    def drafts() -> str:
        reply, retries = hive.call("drafts")
        return with_retry_note(format_drafts(reply), retries)

    @_tool(server, "discard_draft", "Delete a draft you no longer need: its config repo and "
                                    "state dir go. Not possible while its spawn waits for "
                                    "approval.")
    def discard_draft(name: name_field) -> str:
        reply, retries = hive.call("discard_draft", name=name)
        return with_retry_note(f"draft {reply.get('name') or name} discarded", retries)

    def lifecycle(verb, description):
        def tool(name: name_field) -> str:
            reply, retries = hive.call(verb, name=name)
            return with_retry_note(format_lifecycle(verb, name, reply), retries)
        tool.__name__ = verb
        _tool(server, verb, description)(tool)

    lifecycle("start", "Start a stopped agent. No approval needed; not on yourself.")
    lifecycle("stop", "Stop a running agent; its messages keep queueing. No approval "
                      "needed; not on yourself.")
    lifecycle("restart", "Restart an agent, e.g. when it is stuck. No approval needed; not "
                         "on yourself.")
    lifecycle("rebuild", "Re-apply an agent's current config and restart it. No approval "
                         "needed; not on yourself.")

    @_tool(server, "list", "List the names of every agent in the hive, yourself included.")
    def list_agents() -> str:
        reply, retries = hive.call("list")
        return with_retry_note(format_agents(reply), retries)


def run(args):
    journal.setup_logging("mcp", os.environ.get("HYPERHIVE_AGENT") or None)
    path = socket_path(args.hive_dir)
    log.info("serving MCP tools over stdio for %s%s", path, " (manager)" if args.manager else "")
    build_server(path, manager=args.manager).run()
    return 0
