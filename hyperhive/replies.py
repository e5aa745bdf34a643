"""The text an MCP tool result gives the model for a host reply (SPEC §5).

Each format_* takes the reply and the tool's arguments by name (`**_` takes the ones
it does not need), so the verb table names one per tool and the server calls them
all alike. They are pure, so the exact texts are testable without a socket, and use
the standard library alone: `hyperhive mcp` loads them with the verb table.
"""

import json
import time
from datetime import datetime, timezone

from . import formats
from .bounds import MAX_LOG_BYTES, MAX_WAIT

REDELIVERED_BANNER = "[redelivered after harness restart — may already be handled]"


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


def format_sent(reply, to, in_reply_to=None, **_):
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
    if not isinstance(event, str):
        return None
    line = formats.event_line(data)         # e.g. why the agent was (re)started
    return f"`{event}`: {line}" if line else f"`{event}`"


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
        header += (f" (hive system event {event}; the JSON below describes it)" if event
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


def format_recv(reply, wait_seconds=None, max=None, **_):
    return format_messages(reply.get("messages") or [], wait_seconds, max)


def format_question(reply, to=None, **_):
    who = "the operator" if to in (None, "", "operator") else to
    return (f"question #{reply.get('id')} queued for {who}; the answer will arrive later as "
            "a system message (event question_answered) — do not wait for it inline")


def format_answered(reply, id, **_):
    return f"answered question #{id}; the asker gets your answer as a system message"


def format_reminder(reply, now=None, **_):
    now = time.time() if now is None else now
    due = reply.get("due_at")
    rid = reply.get("id")
    if due is None:
        return f"reminder #{rid} set"
    return (f"reminder #{rid} set: it arrives in your inbox (from `reminder`) at {utc(due)}, "
            f"in {span(due - now)}")


def format_reminders(reply, now=None, **_):
    now = time.time() if now is None else now
    rows = reply.get("reminders") or []
    if not rows:
        return "(no pending reminders)"
    lines = []
    for r in rows:
        into = f" (to {r['file_path']})" if r.get("file_path") else ""
        first = (r.get("message") or "").splitlines()[:1] or [""]
        lines.append(f"#{r['id']} due {utc(r['due_at'])}, in {span(max(0, r['due_at'] - now))}"
                     f"{into}: {first[0][:200]}")
    return "\n".join(lines)


def format_reminder_cancelled(reply, id, **_):
    return f"reminder #{id} cancelled; it will not be delivered"


def format_status_set(reply, text, **_):
    return f"status set: {text}" if text.strip() else "status cleared"


def format_threads(reply, **_):
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


def format_whoami(reply, **_):
    name, role = reply.get("name"), reply.get("role")
    lines = [f"you are {name}, a hyperhive {role or 'agent'}"]
    for key, value in reply.items():
        if key not in (*_REPLY_META, "name", "role") and value not in (None, ""):
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


def format_nap(reply, seconds, now=None, **_):
    if reply.get("text"):
        return reply["text"]
    until = reply.get("until")
    if until is None:
        now = time.time() if now is None else now
        until = now + seconds
    return (f"napping until {utc(until)}: finish this turn; messages keep queueing and the "
            "next one after that time wakes you")


def format_spawn_request(reply, name, **_):
    return (f"spawn of {reply.get('name') or name} requested (approval #{reply.get('id')}); "
            "the operator decides, and you get an approval_resolved system message either way")


def format_commit_request(reply, agent, commit_ref, **_):
    return (f"commit {commit_ref} for {agent} submitted (approval #{reply.get('id')}); the "
            "operator decides, and you get an approval_resolved system message either way")


def format_draft(reply, name, agents_dir, **_):
    # `agents_dir`: where the manager sees the agents' dirs (its MCP server's setting).
    return (f"draft {name} created: edit {agents_dir}/{name}/config/agent.json (and put "
            f"starting notes in {agents_dir}/{name}/state/notes.md if you like), commit, then "
            f"call request_spawn_commit(name={name!r}, commit_ref=<sha>) to ask the operator "
            f"to boot it. Its page will be on port {reply.get('port')}.")


def format_drafts(reply, **_):
    drafts = reply.get("drafts") or []
    if not drafts:
        return "(no drafts)"
    return "\n".join(f"{d['name']}: config at {d.get('config_sha') or '?'}"
                     + (f" — {d['description']}" if d.get("description") else "")
                     for d in drafts)


def format_discarded(reply, name, **_):
    return f"draft {reply.get('name') or name} discarded"


def format_done(past):
    """The formatter of a lifecycle tool: `alice stopped (not running)`."""
    def format_lifecycle(reply, name, **_):
        text = f"{reply.get('name') or name} {past}"
        if "running" in reply:
            text += " (running)" if reply["running"] else " (not running)"
        return text
    return format_lifecycle


def format_agents(reply, **_):
    agents = reply.get("agents") or []
    return f"agents: {', '.join(agents)}" if agents else "(no agents)"


def format_logs(reply, name, **_):
    text = reply.get("text") or f"(no journal records for {reply.get('name') or name})"
    if reply.get("cut"):
        return f"[older lines cut: only the newest {MAX_LOG_BYTES // 1024} KiB fit]\n{text}"
    return text


def format_search(reply, **_):
    rows = reply.get("results") or []
    if not rows:
        return "(no hits)"
    return "\n".join(
        f"{r['kind']} #{r['id']} {r['from']} -> {r['to']} at {utc(r['at'])}: "
        + formats.marked(r["snippet"], r["marks"], "[[", "]]").replace("\n", " ") for r in rows)
