"""What `hyperhive ctl` prints for a reply: one renderer per verb that needs more
than `ok  key=value`.

Each takes the reply and ctl's parsed arguments (`_args` where it needs none), so
the verb table names one per ctl form and ctl calls them all alike.
"""

import datetime
import json
import shlex

from . import formats
from .formats import dollars


def when(ts):
    if not ts:
        return "-"
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def plain(reply, _args):
    """Any reply without a renderer of its own: `ok` and its fields."""
    fields = {k: v for k, v in reply.items() if k not in ("ok", "v")}
    return "ok" + ("".join(f"  {k}={v}" for k, v in fields.items()) if fields else "")


def moved(reply, _args):
    return (f"{reply['name']} now lives on host {reply['host']} (its dirs {reply['dirs']}); "
            f"it is stopped: `hyperhive ctl start {reply['name']}` runs it there")


def approve_command(args, reply):
    """The exact command that approves what `ctl diff` just printed."""
    where = [f"--{k} {shlex.quote(v)}" for k, v in (("root", args.root), ("socket", args.socket))
             if v]
    return " ".join(["hyperhive ctl", *where, "approve", str(reply["id"]),
                     "--diff-sha256", reply["diff_sha256"]])


def diff(reply, args):
    """Stat, the whole diff, then the approve command (its sha256 proves all of it was read)."""
    parts = [reply["diff_stat"].rstrip("\n"), reply["diff"].rstrip("\n")]
    if reply["status"] == "pending":
        last = (f"# the whole diff of approval #{reply['id']}; to approve it: "
                f"{approve_command(args, reply)}")
    else:
        last = f"# approval #{reply['id']} is {reply['status']}"
    return "\n".join(p for p in parts if p) + "\n" + last


def config_view(reply, _args):
    """agent.json pretty-printed, then one line per commit: sha, date, tags, subject."""
    lines = [json.dumps(reply["config"], indent=2, sort_keys=True), ""]
    for commit in reply["history"]:
        tags = ",".join(f"{kind}/{i}" for kind, ids in commit["tags"].items() for i in ids)
        # to the minute, as the config page writes it
        lines.append(f"{commit['short']}  {formats.date_time(commit['time']) or '-'}  "
                     f"{tags or '-'}  "
                     f"{commit['subject']}")
    return "\n".join(lines)


def agent_list(reply, _args):
    return "\n".join(reply["agents"]) or "(no agents)"


def status_table(reply, _args):
    rows = reply["agent_statuses"]
    if not rows:
        return "(no agents)"
    several = any(r.get("host") for r in rows)       # a hive of several hosts
    header = ("NAME", *(("HOST",) if several else ()), "RUNNING", "STATE", "FLAGS", "MODEL",
              "PORT", "UNREAD", "REMINDERS", "STATUS")
    lines = [header]
    for r in rows:
        running = "host-down" if r.get("host_down") else \
            "failed" if r["failed"] else ("yes" if r["running"] else "no")
        flags = [f for f, on in (("needs-login", r["needs_login"]), ("paused", r["paused"]),
                                 ("needs-update", r["needs_update"]),
                                 ("budget", r.get("over_budget"))) if on]
        if r.get("rollout"):
            flags.append(f"settling#{r['rollout']['id']}")
        if r.get("rate_limited_until"):
            # At most a day ahead: the clock says it.
            flags.append("rate-limited-until-" + datetime.datetime.fromtimestamp(
                r["rate_limited_until"]).strftime("%H:%M:%S"))
        lines.append((r["name"], *((r.get("host") or "-",) if several else ()), running,
                      r["turn_state"] or "-", ",".join(flags) or "-",
                      r["model"] or "-", str(r["port"] or "-"), str(r["unread"]),
                      str(r["pending_reminders"]), (r["status_text"] or "")[:40]))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in lines)


def pending(reply, _args):
    rows = reply["approvals"]
    if not rows:
        return "(nothing waiting)"
    return "\n".join(f"#{a['id']}  {a['kind']:<12} {a['agent']:<10} {when(a['requested_at'])}"
                     + (f"  {a['description']}" if a.get("description") else "")
                     + (f"  [long diff: read it with `hyperhive ctl diff {a['id']}`]"
                        if a.get("diff_truncated") else "") for a in rows)


def reminders(reply, _args):
    rows = reply["reminders"]
    if not rows:
        return "(no pending reminders)"
    return "\n".join(f"#{r['id']}  {r['agent']:<10} due {when(r['due_at'])}"
                     + (f"  -> {r['file_path']}" if r.get("file_path") else "")
                     + f"  {(r['message'].splitlines() or [''])[0][:80]}" for r in rows)


def failed(reply, _args):
    rows = reply["failed"]
    if not rows:
        return "(no failed turns)"
    return "\n".join(f"#{f['message_id']}  {f['agent']:<10} {f['outcome']} after "
                     f"{f['attempts']} attempt{'s' if f['attempts'] != 1 else ''} "
                     f"{when(f['failed_at'])}  from {f['sender'] or '?'}: "
                     f"{((f['body'] or '').splitlines() or [''])[0][:60]}"
                     + (f"\n    {(f['note'].splitlines() or [''])[0][:100]}" if f["note"] else "")
                     for f in rows)


def login_url(reply, _args):
    return reply["url"]


def drafts(reply, _args):
    rows = reply["drafts"]
    if not rows:
        return "(no drafts)"
    return "\n".join(f"{d['name']:<10} config {d['config_sha'] or '-':<12} {when(d['created_at'])}"
                     + (f"  {d['description']}" if d.get("description") else "") for d in rows)


def inbox(reply, _args):
    rows = reply["messages"]
    if not rows:
        return "(inbox empty)"
    out = []
    for m in reversed(rows):
        reply_to = f" ↳ #{m['in_reply_to']}" if m.get("in_reply_to") else ""
        out.append(f"#{m['id']}  from {m['from']}  {when(m['sent_at'])}{reply_to}")
        out.extend("    " + line for line in m["body"].splitlines() or [""])
    return "\n".join(out)


def questions(reply, _args):
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


def budgets(reply, _args):
    """One line per agent: spend today against its limit, and what the operator did."""
    rows = reply["budgets"] if "budgets" in reply else [reply["budget"]]
    if not rows:
        return "(no agents)"
    lines = [("NAME", "SPENT", "LIMIT", "BUDGET", "TURNS", "")]
    for b in rows:
        limit = "lifted" if b["lifted"] else dollars(b["limit_usd"])
        notes = [f"raised +{dollars(b['raised_usd'])}" if b["raised_usd"] else "",
                 "HELD: over budget" if b["held"] else ""]
        lines.append((b["name"], dollars(b["spent_usd"]), limit, dollars(b["budget_usd"]),
                      str(b["turns"]), "  ".join(n for n in notes if n)))
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
                      for row in lines)
    return f"{table}\n(today: {rows[0]['day']}, the host's local day)"
def search(reply, _args):
    rows = reply["results"]
    if not rows:
        return "(no hits)"
    return "\n".join(f"{r['kind']:<8} #{r['id']:<6} {when(r['at'])}  {r['from']} -> {r['to']}\n    "
                     + formats.marked(r["snippet"], r["marks"], "[", "]").replace("\n", " ")
                     for r in rows)
