"""`hyperhive ctl`: the operator's command line over the admin socket.

Exit codes: 0 done, 1 the host refused (its sentence is printed), 2 usage
errors or no host to talk to. `--json` prints the raw reply instead.
"""

import datetime
import errno
import json
import os
import shlex
import sys

from . import journal
from .client import Client
from .paths import Places

EXIT_OK, EXIT_REFUSED, EXIT_NO_HOST = 0, 1, 2


def add_parser(sub):
    p = sub.add_parser("ctl", help="operator commands over the admin socket")
    p.add_argument("--root", help="the host's --root DIR")
    p.add_argument("--socket", help="admin socket path (default /run/hyperhive/host.sock)")
    p.add_argument("--json", action="store_true", help="print the raw JSON reply")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, help_text in (("list", "agent names"), ("status", "a row per agent"),
                            ("pending", "approvals waiting for you"),
                            ("questions", "open questions"),
                            ("drafts", "agents drafted but not booted yet"),
                            ("hello", "what the socket offers"),
                            ("login-url", "a one-time link that logs a browser in")):
        verbs.add_parser(verb, help=help_text)
    for verb in ("spawn", "start", "stop", "restart", "rebuild", "purge", "pause", "resume"):
        verbs.add_parser(verb, help=f"{verb} an agent").add_argument("name")
    verbs.add_parser("discard-draft", help="delete a draft").add_argument("name")
    p_req = verbs.add_parser("request-spawn", help="queue a spawn for approval")
    p_req.add_argument("name")
    p_req.add_argument("--description")
    p_destroy = verbs.add_parser("destroy", help="remove an agent (state is kept)")
    p_destroy.add_argument("name")
    p_destroy.add_argument("--purge", action="store_true", help="delete its state too")
    p_approve = verbs.add_parser("approve", help="approve and apply")
    p_approve.add_argument("id", type=int)
    p_approve.add_argument("--diff-sha256", help="the sha256 `ctl diff ID` printed: needed when "
                           "the diff is longer than pages show")
    verbs.add_parser("diff", help="the whole diff of an approval, and how to approve it"
                     ).add_argument("id", type=int)
    p_deny = verbs.add_parser("deny", help="deny an approval")
    p_deny.add_argument("id", type=int)
    p_deny.add_argument("--note")
    p_send = verbs.add_parser("send", help="send a message as the operator")
    p_send.add_argument("to")
    p_send.add_argument("body", help="message text, or - to read stdin")
    p_send.add_argument("--reply-to", type=int)
    verbs.add_parser("inbox", help="messages to the operator").add_argument(
        "--limit", type=int, default=20)
    p_answer = verbs.add_parser("answer", help="answer a question")
    p_answer.add_argument("id", type=int)
    p_answer.add_argument("answer")
    verbs.add_parser("cancel-question", help="cancel a question").add_argument("id", type=int)
    verbs.add_parser("subscribe", help="print dashboard events as they happen").add_argument(
        "--kinds", help="comma-separated event kinds")
    p_logs = verbs.add_parser("logs", help="an agent's journal, through journalctl")
    p_logs.add_argument("name")
    p_logs.add_argument("-f", "--follow", action="store_true", help="go on printing new lines")
    p_logs.add_argument("-n", "--lines", type=_positive, help="only the last N lines")


def request_for(args):
    """The wire request for parsed ctl arguments."""
    v = args.verb
    simple = {"list": "list", "status": "status", "pending": "pending",
              "questions": "questions", "drafts": "drafts", "hello": "hello",
              "login-url": "login_url"}
    if v in simple:
        return {"cmd": simple[v]}
    if v in ("spawn", "start", "stop", "restart", "rebuild", "purge"):
        return {"cmd": v, "name": args.name}
    if v == "discard-draft":
        return {"cmd": "discard_draft", "name": args.name}
    if v in ("pause", "resume"):
        return {"cmd": "set_paused", "name": args.name, "paused": v == "pause"}
    if v == "request-spawn":
        return {"cmd": "request_spawn", "name": args.name, "description": args.description}
    if v == "destroy":
        return {"cmd": "destroy", "name": args.name, "purge": args.purge}
    if v == "approve":
        return {"cmd": "approve", "id": args.id, "diff_sha256": args.diff_sha256}
    if v == "diff":
        return {"cmd": "approval_diff", "id": args.id}
    if v == "deny":
        return {"cmd": "deny", "id": args.id, "note": args.note}
    if v == "send":
        body = sys.stdin.read() if args.body == "-" else args.body
        return {"cmd": "send", "to": args.to, "body": body, "in_reply_to": args.reply_to}
    if v == "inbox":
        return {"cmd": "inbox", "limit": args.limit}
    if v == "answer":
        return {"cmd": "answer", "id": args.id, "answer": args.answer}
    if v == "cancel-question":
        return {"cmd": "cancel_question", "id": args.id}
    if v == "logs":
        return {"cmd": "logs", "name": args.name}
    if v == "subscribe":
        kinds = [k for k in (args.kinds or "").split(",") if k]
        return {"cmd": "subscribe", "kinds": kinds or None}
    raise ValueError(v)


def socket_path(args):
    if args.socket:
        return args.socket
    return str(Places.from_root(args.root).host_sock)


def run(args):
    path = socket_path(args)
    request = {k: v for k, v in request_for(args).items() if v is not None}
    client = Client(path)
    try:
        if args.verb == "subscribe":
            return _subscribe(client, request)
        reply = client.request(request)
    except OSError as exc:
        print(f"hyperhive ctl: {explain_socket_error(exc, path)}", file=sys.stderr)
        return EXIT_NO_HOST
    except (ConnectionError, ValueError) as exc:
        print(f"hyperhive ctl: bad reply from {path}: {exc}", file=sys.stderr)
        return EXIT_NO_HOST
    if args.json:
        print(json.dumps(reply, indent=2))
    elif reply.get("ok") and args.verb == "logs":
        return _journalctl(args, reply)
    elif reply.get("ok") and args.verb == "diff":
        print(render_diff(reply, approve_command(args, reply)))
    elif reply.get("ok"):
        print(render(args.verb, reply))
    if not reply.get("ok"):
        if not args.json:
            print(f"hyperhive ctl: {reply.get('error')} ({reply.get('code')})", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


def explain_socket_error(exc, path):
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
        return f"no socket at {path} — the host is not running (start it with `hyperhive host`)"
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return f"nothing is listening on {path} — the host is down"
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return (f"permission denied on {path} — run as root or join the hive-admin group "
                "(log in again after joining)")
    return f"cannot reach {path}: {exc}"


def _positive(text):
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _journalctl(args, query):
    """Become journalctl, run the host's way for this agent: -f follows until Ctrl-C ends
    it, as journalctl's own would."""
    try:
        argv = journal.journalctl_argv(query, lines=args.lines, follow=args.follow)
    except ValueError as exc:
        print(f"hyperhive ctl: the host sent an unusable journal query: {exc}", file=sys.stderr)
        return EXIT_NO_HOST
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"hyperhive ctl: cannot run {argv[0]}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_NO_HOST


def _subscribe(client, request):
    try:
        for event in client.stream(request):
            print(json.dumps(event), flush=True)
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


# -- rendering ------------------------------------------------------------------

def when(ts):
    if not ts:
        return "-"
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def render(verb, reply):
    renderer = {"list": _render_list, "status": _render_status, "pending": _render_pending,
                "inbox": _render_inbox, "questions": _render_questions,
                "drafts": _render_drafts, "login-url": _render_login_url}.get(verb)
    if renderer:
        return renderer(reply)
    fields = {k: v for k, v in reply.items() if k not in ("ok", "v")}
    return "ok" + ("".join(f"  {k}={v}" for k, v in fields.items()) if fields else "")


def approve_command(args, reply):
    """The exact command that approves what `ctl diff` just printed."""
    where = [f"--{k} {shlex.quote(v)}" for k, v in (("root", args.root), ("socket", args.socket))
             if v]
    return " ".join(["hyperhive ctl", *where, "approve", str(reply["id"]),
                     "--diff-sha256", reply["diff_sha256"]])


def render_diff(reply, command):
    """Stat, the whole diff, then the approve command (its sha256 proves all of it was read)."""
    parts = [reply["diff_stat"].rstrip("\n"), reply["diff"].rstrip("\n")]
    if reply["status"] == "pending":
        last = f"# the whole diff of approval #{reply['id']}; to approve it: {command}"
    else:
        last = f"# approval #{reply['id']} is {reply['status']}"
    return "\n".join(p for p in parts if p) + "\n" + last


def _render_list(reply):
    return "\n".join(reply["agents"]) or "(no agents)"


def _render_status(reply):
    rows = reply["agent_statuses"]
    if not rows:
        return "(no agents)"
    header = ("NAME", "RUNNING", "STATE", "FLAGS", "MODEL", "PORT", "UNREAD", "REMINDERS",
              "STATUS")
    lines = [header]
    for r in rows:
        running = "failed" if r["failed"] else ("yes" if r["running"] else "no")
        flags = [f for f, on in (("needs-login", r["needs_login"]), ("paused", r["paused"]),
                                 ("needs-update", r["needs_update"])) if on]
        if r.get("rollout"):
            flags.append(f"settling#{r['rollout']['id']}")
        lines.append((r["name"], running, r["turn_state"] or "-", ",".join(flags) or "-",
                      r["model"] or "-", str(r["port"] or "-"), str(r["unread"]),
                      str(r["pending_reminders"]), (r["status_text"] or "")[:40]))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in lines)


def _render_pending(reply):
    rows = reply["approvals"]
    if not rows:
        return "(nothing waiting)"
    return "\n".join(f"#{a['id']}  {a['kind']:<12} {a['agent']:<10} {when(a['requested_at'])}"
                     + (f"  {a['description']}" if a.get("description") else "")
                     + (f"  [long diff: read it with `hyperhive ctl diff {a['id']}`]"
                        if a.get("diff_truncated") else "") for a in rows)


def _render_login_url(reply):
    return reply["url"]


def _render_drafts(reply):
    rows = reply["drafts"]
    if not rows:
        return "(no drafts)"
    return "\n".join(f"{d['name']:<10} config {d['config_sha'] or '-':<12} {when(d['created_at'])}"
                     + (f"  {d['description']}" if d.get("description") else "") for d in rows)


def _render_inbox(reply):
    rows = reply["messages"]
    if not rows:
        return "(inbox empty)"
    out = []
    for m in reversed(rows):
        reply_to = f" ↳ #{m['in_reply_to']}" if m.get("in_reply_to") else ""
        out.append(f"#{m['id']}  from {m['from']}  {when(m['sent_at'])}{reply_to}")
        out.extend("    " + line for line in m["body"].splitlines() or [""])
    return "\n".join(out)


def _render_questions(reply):
    rows = reply["questions"]
    if not rows:
        return "(no open questions)"
    out = []
    for q in rows:
        target = q["target"] or "operator"
        ttl = f"  expires {when(q['deadline_at'])}" if q.get("deadline_at") else ""
        out.append(f"#{q['id']}  {q['asker']} → {target}{ttl}: {q['question']}")
        if q["options"]:
            out.append("    options: " + " | ".join(q["options"])
                       + ("  (several allowed)" if q["multi"] else ""))
    return "\n".join(out)
