"""The broker: the one API that changes the hive's state.

The socket server, the dashboard and (through the harness) the MCP tools are
thin adapters over these methods. Every method takes the caller's identity as
its first argument; the adapters fill it from the socket or page the request
came in on, never from the request itself.

Writes go through a group-commit writer, so a method returns only after its
rows are committed. Long-poll receivers park on a per-recipient doorbell that
`send` rings after the commit; nothing here polls.
"""

import json
import logging
import os
import time
from collections import defaultdict

import gevent
from gevent.event import Event

from . import names, repos, retention, safefs
from .bounds import (
    MAX_ANSWER,
    MAX_BATCH,
    MAX_BODY,
    MAX_DELAY,
    MAX_DESCRIPTION,
    MAX_OPTION,
    MAX_OPTIONS,
    MAX_QUESTION,
    MAX_REMINDER_PATH,
    MAX_REMINDER_TEXT,
    MAX_STATUS_TEXT,
    MAX_TTL,
    MAX_WAIT,
    MAX_WAKE_LABEL,
)
from .disk import DiskState
from .errors import BadArgs, Conflict, DiskFull, Forbidden, HiveError, NotFound, Unavailable
from .fanout import Fanout
from .groupcommit import GroupWriter
from .names import BROADCAST, MANAGER, OPERATOR, SYSTEM

log = logging.getLogger(__name__)

# Resources one agent may hold at once; at the bound the verb answers `conflict`.
MAX_OPEN_QUESTIONS = 20            # questions it asked that are not answered
MAX_PENDING_REMINDERS = 100
MAX_PENDING_APPROVALS = 20         # approvals waiting for the operator (the manager's)
MAX_DRAFTS = 20                    # drafts the manager prepares that have not booted
# How long the timers wait before trying a due reminder again on a full disk.
DISK_RETRY_SECONDS = 30
BROADCAST_HINT = "this was a broadcast to every agent and may not need any action from you"


def _reminder_path(file_path):
    """The part of a reminder's `file_path` under /state/; BadArgs for any other shape."""
    if (not isinstance(file_path, str) or not file_path.startswith("/state/")
            or len(file_path.encode()) > MAX_REMINDER_PATH):
        raise BadArgs(f"`file_path` must be a path under /state/ of at most "
                      f"{MAX_REMINDER_PATH} bytes")
    try:
        return "/".join(safefs.parts(file_path[len("/state/"):]))
    except BadArgs:
        raise BadArgs("`file_path` must be a plain path under /state/: no '..', '.', "
                      "empty parts or NUL") from None


def _text(value, what, limit=MAX_BODY, empty_ok=False):
    if not isinstance(value, str):
        raise BadArgs(f"{what} must be a string")
    if not empty_ok and not value.strip():
        raise BadArgs(f"{what} must not be empty")
    if len(value.encode()) > limit:
        raise BadArgs(f"{what} is over the {limit}-byte limit")
    return value


def check_wake(label, body):
    """What a wake may carry; `hyperhive wake` asks it too before it leaves one in the spool."""
    _text(body, "body")
    if not isinstance(label, str) or not 0 < len(label) <= MAX_WAKE_LABEL \
            or not label.isprintable():
        raise BadArgs(f"`from` must be a label of 1 to {MAX_WAKE_LABEL} printable "
                      "characters (no newlines), such as 'ci: build'")


def _shown(approval):
    """An approval as pages, `pending` and events carry it: at most DIFF_SHOWN_CHARS of
    its diff, whether that is all of it, and its whole length."""
    if approval.get("diff") is None:
        return {**approval, "diff_truncated": False, "diff_length": 0}
    diff, cut, length = repos.shown_diff(approval["diff"])
    return {**approval, "diff": diff, "diff_stat": (approval["diff_stat"] or "")
            [:repos.DIFF_SHOWN_CHARS], "diff_truncated": cut, "diff_length": length}


def _check_diff_read(approval, diff_sha256):
    """A diff too long for the pages is approved only with the sha256 of all of it."""
    diff = approval.get("diff")
    if diff_sha256 is not None:
        _text(diff_sha256, "diff_sha256", limit=64)
        if diff is None or diff_sha256.strip().lower() != repos.diff_digest(diff):
            raise Conflict(f"diff_sha256 is not the sha256 of approval #{approval['id']}'s "
                           f"diff; read it again with `hyperhive ctl diff {approval['id']}` "
                           f"or at /approvals/{approval['id']}/diff on the dashboard")
        return
    if diff is not None and repos.shown_diff(diff)[1]:
        raise Conflict(f"the diff of approval #{approval['id']} is {len(diff)} characters and "
                       f"pages show only the first {repos.DIFF_SHOWN_CHARS}; read all of it "
                       f"with `hyperhive ctl diff {approval['id']}` (or at "
                       f"/approvals/{approval['id']} on the dashboard) and approve with the "
                       "diff_sha256 it prints")


class Broker:
    def __init__(self, store, places, clock=time.time, retention_days=retention.DEFAULT_DAYS):
        self.store = store
        self.places = places
        self.clock = clock
        self.retention_days = retention_days
        self.lifecycle = None          # set by the host: containers and repos
        self.sessions = None           # set by the host: the operator's web sessions
        self.fanout = Fanout()
        self.disk = DiskState("the hive's disk", places.lib if places else None,
                              on_change=self._disk_changed)
        self.writer = GroupWriter(store.atomic, self._publish, disk=self.disk)
        self._bells = defaultdict(Event)
        self._timer_bell = Event()
        self._runtime = defaultdict(dict)   # what each harness last reported
        # The broker is the only writer of agents: it keeps their names and paused
        # flags in memory rather than asking sqlite on every message.
        self._agents = {a["name"]: bool(a["paused"]) for a in store.agents()}
        self._transients = {}               # name -> lifecycle step in flight
        self._timer = None
        self._pruner = None

    def start(self):
        self._timer = gevent.spawn(self._run_timers)
        self._pruner = gevent.spawn(retention.daily, self.prune, "the hive's database")

    def stop(self):
        for greenlet in (self._timer, self._pruner):
            if greenlet:
                greenlet.kill()
        self.writer.stop()

    # -- plumbing ---------------------------------------------------------

    def _write(self, fn):
        return self.writer.write(fn)

    def _write_relaxed(self, fn):
        """A write whose loss in a power cut costs nothing worse than a redelivery
        (delivery marks, acks) or a stale badge (reports, transients): committed
        before the reply, but not fsynced on its own."""
        return self.writer.write(fn, durable=False)

    def _emit(self, event_kind, /, **data):
        """Inside a write: store a dashboard event; it is published after commit."""
        seq = self.store.add_event(event_kind, data, self.clock())
        self.writer.effect({"seq": seq, "kind": event_kind, "at": self.clock(), "data": data})

    def _disk_changed(self, state):
        """Pages hear at once that the disk filled or has room again. Published, not
        stored (a full disk takes no event); a page that connects later reads it from
        the state."""
        self.fanout.publish({"seq": None, "kind": "disk_changed", "at": self.clock(),
                             "data": state})

    def _publish(self, events):
        for event in events:
            self.fanout.publish(event)

    def _ring(self, recipient):
        self._bells[recipient].set()

    def _post(self, sender, recipient, body, in_reply_to=None, broadcast=False):
        """Inside a write: insert one message and record its `sent` event."""
        msg_id = self.store.add_message(sender, recipient, body, self.clock(),
                                        in_reply_to=in_reply_to, broadcast=broadcast)
        self._emit("sent", id=msg_id, sender=sender, to=recipient,
                   body=body[:2000], in_reply_to=in_reply_to)
        return msg_id

    def _system_in_write(self, to, event, **fields):
        return self._post(SYSTEM, to, json.dumps({"event": event, **fields}))

    def notify(self, to, event, **fields):
        """Send a system message (JSON body with `event`) and wake the recipient."""
        if to != OPERATOR and not self.is_agent(to):
            return None
        msg_id = self._write(lambda: self._system_in_write(to, event, **fields))
        self._ring(to)
        return msg_id

    HARNESS_EVENTS = ("turn_failed", "plugin_install_failed", "needs_login")

    def notify_manager(self, caller, event, detail=None):
        """A harness reports something about itself to the manager, as a system message."""
        if event not in self.HARNESS_EVENTS:
            raise BadArgs(f"`event` must be one of {', '.join(self.HARNESS_EVENTS)}")
        if caller == MANAGER:
            return {"id": None}
        fields = {k: v for k, v in (detail or {}).items() if k not in ("event", "agent")}
        return {"id": self.notify(MANAGER, event, agent=caller, **fields)}

    def is_agent(self, name):
        return name in self._agents

    def agent_names(self):
        return list(self._agents)

    def _need_agent(self, name):
        names.check(name)
        if not self.is_agent(name):
            raise NotFound(f"there is no agent named {name!r}")
        return name

    # -- messages ---------------------------------------------------------

    def send(self, caller, to, body, in_reply_to=None):
        _text(body, "body")
        if not isinstance(to, str) or not to:
            raise BadArgs("`to` must name an agent, 'manager', 'operator' or '*'")
        if in_reply_to is not None and self.store.message(in_reply_to) is None:
            raise NotFound(f"there is no message #{in_reply_to} to reply to")
        recipients = self._recipients(caller, to)
        self._check_policy(caller, to, "send to")

        def write():
            return [self._post(caller, r, body, in_reply_to, broadcast=(to == BROADCAST))
                    for r in recipients]
        ids = self._write(write)
        for r in recipients:
            self._ring(r)
        if to == BROADCAST:
            return {"id": ids[0] if ids else None, "ids": ids, "recipients": recipients}
        return {"id": ids[0]}

    def _recipients(self, caller, to):
        if to == BROADCAST:
            return [n for n in self.agent_names() if n != caller]
        if to == OPERATOR:
            return [OPERATOR]
        if to == caller:
            raise BadArgs("you cannot send a message to yourself; use `remind` or notes instead")
        if not self.is_agent(to):
            known = ", ".join(self.agent_names()) or "none"
            raise NotFound(f"there is no agent named {to[:40]!r} (agents: {known}; "
                           "also 'operator', 'manager' and '*')")
        return [to]

    def _check_policy(self, caller, to, action):
        """allowed_recipients, for `send` and `ask(to=agent)` alike (`action` says which)."""
        if caller in (OPERATOR, SYSTEM, MANAGER) or to == MANAGER:
            return
        allowed = self.allowed_recipients(caller)
        if not allowed:
            return
        if to == BROADCAST or to not in allowed:
            raise Forbidden(f"you may not {action} {to!r}: your configuration only allows "
                            f"{', '.join(allowed)} and the manager. Ask the manager to "
                            "relay the message or to change your allowed_recipients.")

    def allowed_recipients(self, name):
        if self.lifecycle is None:
            return []
        return self.lifecycle.config(name).get("allowed_recipients") or []

    def recv(self, caller, wait_seconds=0, max=1):
        if not isinstance(max, int) or not 1 <= max <= MAX_BATCH:
            raise BadArgs(f"`max` must be between 1 and {MAX_BATCH}")
        if not isinstance(wait_seconds, (int, float)) or wait_seconds < 0:
            raise BadArgs("`wait_seconds` must be a number of seconds, 0 or more")
        deadline = self.clock() + min(wait_seconds, MAX_WAIT)
        bell = self._bells[caller]
        while True:
            # Clear before looking: a send that lands after the look rings again,
            # so the wait below returns at once instead of sleeping it out.
            bell.clear()
            messages = self._take(caller, max)
            remaining = deadline - self.clock()
            if messages or remaining <= 0:
                unread = self.store.unread_count(caller) if messages else 0
                return {"messages": messages, "unread": unread}
            bell.wait(remaining)

    def _take(self, caller, limit):
        if self._paused(caller) or not self.store.unread_count(caller):
            return []

        def write():
            rows = self.store.take_messages(caller, limit, self.clock())
            for r in rows:
                self._emit("delivered", id=r["id"], to=caller, sender=r["sender"])
            return rows
        return [self._public(m) for m in self._write_relaxed(write)]

    @staticmethod
    def _public(m):
        out = {"id": m["id"], "from": m["sender"], "body": m["body"], "sent_at": m["sent_at"],
               "in_reply_to": m["in_reply_to"], "redelivered": bool(m["redelivered"])}
        if m.get("broadcast"):
            out["broadcast"] = True
            out["hint"] = BROADCAST_HINT
        return out

    def undeliver(self, ids, recipient=None):
        """A reply carrying these messages never reached the caller: put them back."""
        if not ids:
            return {"undelivered": 0}
        n = self._write_relaxed(lambda: self.store.undeliver(ids, recipient))
        if n and recipient:
            self._ring(recipient)
        return {"undelivered": n}

    def ack(self, caller, ids):
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise BadArgs("`ids` must be a list of message ids")

        def write():
            n = self.store.ack(caller, ids, self.clock())
            if n:
                self._emit("acked", to=caller, ids=ids)
            return n
        return {"acked": self._write_relaxed(write)}

    def requeue(self, caller):
        def write():
            n = self.store.requeue(caller)
            if n:
                self._emit("agent_changed", name=caller,
                           unread=self.store.unread_count(caller))
            return n
        n = self._write(write)
        if n:
            self._ring(caller)
        return {"requeued": n}

    def status(self, caller):
        return {"unread": self.store.unread_count(caller),
                "pending_reminders": self.store.pending_reminders(caller),
                "open_threads": len(self.open_threads(caller)["threads"])}

    def recent(self, caller, limit=20):
        if not isinstance(limit, int) or not 1 <= limit <= 500:
            raise BadArgs("`limit` must be between 1 and 500")
        return {"messages": [self._public(m) for m in self.store.recent(caller, limit)]}

    def wake(self, caller, label, body):
        """A script inside the agent wakes it. The sender is `wake:<label>`, so no label
        can pass for the operator, the system, the manager or another agent."""
        check_wake(label, body)
        sender = f"wake:{label}"
        msg_id = self._write(lambda: self._post(sender, caller, body))
        self._ring(caller)
        return {"id": msg_id}

    def inbox(self, limit=50):
        return self.recent(OPERATOR, limit)

    def message_flow(self, limit=200):
        return [self.store_row_public(m) for m in self.store.recent_all(limit)]

    @staticmethod
    def store_row_public(m):
        return {"id": m["id"], "from": m["sender"], "to": m["recipient"], "body": m["body"],
                "sent_at": m["sent_at"], "delivered_at": m["delivered_at"],
                "acked_at": m["acked_at"], "in_reply_to": m["in_reply_to"]}

    # -- questions --------------------------------------------------------

    def ask(self, caller, question, options=None, multi=False, ttl_seconds=None, to=None):
        _text(question, "question", limit=MAX_QUESTION)
        options = options or []
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise BadArgs("`options` must be a list of strings")
        if len(options) > MAX_OPTIONS or any(len(o) > MAX_OPTION for o in options):
            raise BadArgs(f"a question has at most {MAX_OPTIONS} options of at most "
                          f"{MAX_OPTION} characters each")
        if not isinstance(multi, bool):
            raise BadArgs("`multi` must be true or false")
        target = None if to in (None, "", OPERATOR) else to
        if target is not None:
            if target == caller:
                raise BadArgs("you cannot ask yourself a question")
            self._need_agent(target)
            self._check_policy(caller, target, "ask")
        deadline = None
        if ttl_seconds is not None:
            if not isinstance(ttl_seconds, (int, float)) or ttl_seconds <= 0:
                raise BadArgs("`ttl_seconds` must be a positive number of seconds")
            deadline = self.clock() + min(ttl_seconds, MAX_TTL)

        def write():
            self._check_open_questions(caller)     # in the write: a burst cannot slip past
            qid = self.store.add_question(caller, question, options, multi, self.clock(),
                                          deadline_at=deadline, target=target)
            self._emit("question_added", id=qid, asker=caller, target=target,
                       question=question, options=options, multi=multi, deadline_at=deadline)
            if target:
                self._system_in_write(target, "question_asked", id=qid, asker=caller,
                                      question=question, options=options, multi=multi)
            return qid
        qid = self._write(write)
        if target:
            self._ring(target)
        if deadline:
            self._timer_bell.set()
        return {"id": qid}

    def _check_open_questions(self, caller):
        if caller == OPERATOR:
            return
        mine = sum(1 for q in self.store.open_questions() if q["asker"] == caller)
        if mine >= MAX_OPEN_QUESTIONS:
            raise Conflict(f"you have {mine} open questions, the most one agent may have; "
                           "wait for answers, or ask the operator to cancel the ones you no "
                           "longer need")

    def answer(self, caller, id, answer):
        _text(answer, "answer", limit=MAX_ANSWER)
        q = self.store.question(id) if isinstance(id, int) else None
        if q is None:
            raise NotFound(f"there is no question #{id}")
        if q["answered_at"] is not None:
            raise Conflict(f"question #{id} was already answered ({q['answer']!r})")
        if caller != OPERATOR and caller != q["target"]:
            raise Forbidden(f"question #{id} was not asked of you")
        self._resolve_question(q, answer, caller)
        return {}

    def cancel_question(self, caller, id):
        q = self.store.question(id) if isinstance(id, int) else None
        if q is None or q["answered_at"] is not None:
            raise NotFound(f"there is no open question #{id}")
        self._resolve_question(q, "[cancelled]", caller)
        return {}

    def _resolve_question(self, q, answer, answerer):
        def write():
            if not self.store.answer_question(q["id"], answer, answerer, self.clock()):
                raise Conflict(f"question #{q['id']} was already answered")
            self._emit("question_resolved", id=q["id"], target=q["target"], answer=answer,
                       answerer=answerer)
            self._system_in_write(q["asker"], "question_answered", id=q["id"],
                                  question=q["question"], answer=answer, answerer=answerer)
        if self.is_agent(q["asker"]) or q["asker"] == OPERATOR:
            self._write(write)
            self._ring(q["asker"])
        else:
            self._write(lambda: self.store.answer_question(q["id"], answer, answerer,
                                                           self.clock()))

    def questions(self):
        return {"questions": self.store.open_questions()}

    # -- reminders --------------------------------------------------------

    def remind(self, caller, message, delay_seconds=None, at=None, file_path=None):
        if (delay_seconds is None) == (at is None):
            raise BadArgs("give exactly one of `delay_seconds` and `at`")
        limit = MAX_BODY if file_path else MAX_REMINDER_TEXT
        if not file_path and isinstance(message, str) and len(message.encode()) > limit:
            raise BadArgs(f"a reminder message over {limit} bytes needs `file_path`: the text "
                          "is written there and the reminder points at it")
        _text(message, "message", limit=limit)
        now = self.clock()
        if delay_seconds is not None:
            if not isinstance(delay_seconds, (int, float)) or not 0 <= delay_seconds <= MAX_DELAY:
                raise BadArgs("`delay_seconds` must be between 0 and a year")
            due = now + delay_seconds
        else:
            if not isinstance(at, (int, float)) or at > now + MAX_DELAY:
                raise BadArgs("`at` must be a unix time within the next year")
            due = at
        if file_path is not None:
            _reminder_path(file_path)   # its shape is checked now; the file is written when due

        def write():
            self._check_pending_reminders(caller)   # in the write: a burst cannot slip past
            return self.store.add_reminder(caller, message, due, now, file_path)
        rid = self._write(write)
        self._timer_bell.set()
        return {"id": rid, "due_at": due}

    def _check_pending_reminders(self, caller):
        pending = self.store.pending_reminders(caller)
        if pending >= MAX_PENDING_REMINDERS:
            raise Conflict(f"you have {pending} pending reminders, the most one agent may have; "
                           "wait for some to come due before setting more")

    def _deliver_reminder(self, r):
        body = r["message"]
        if r["file_path"]:
            try:
                self._write_reminder_file(r["agent"], r["file_path"], body)
                body = f"reminder: the text is in {r['file_path']}"
            except (OSError, HiveError) as exc:
                reason = getattr(exc, "message", None) or exc.args[-1]
                body = f"{body}\n(the text was not written to {r['file_path']}: {reason})"

        def write():
            msg_id = self._post("reminder", r["agent"], body)
            if not self.store.mark_reminder(r["id"], msg_id, self.clock()):
                raise Conflict("reminder already delivered")   # rolls back the message
        try:
            self._write(write)
        except Conflict:
            return
        self._ring(r["agent"])

    def _write_reminder_file(self, agent, file_path, text):
        """Through the agent's own tree, never a link it planted there (SPEC §12)."""
        why = "reminders are written only to regular files under /state"
        state = safefs.open_dir(self.places.lib / "agents", f"{agent}/state")
        try:
            safefs.write_text(state, _reminder_path(file_path), text, create_dirs=True,
                              shown="/state", why=why)
        finally:
            os.close(state)

    # -- timers: reminders and question deadlines --------------------------

    def _run_timers(self):
        while True:
            self._timer_bell.clear()
            now = self.clock()
            try:
                for r in self.store.due_reminders(now):
                    self._deliver_reminder(r)
                for q in self.store.expired_questions(now):
                    self._resolve_question(q, "[expired]", "ttl-watchdog")
            except DiskFull:
                # Logged once by the writer; what is due stays due, tried again later.
                self._timer_bell.wait(DISK_RETRY_SECONDS)
                continue
            except Exception:
                log.exception("timer pass failed")
            nxt = [t for t in (self.store.next_reminder_due(),
                               self.store.next_question_deadline()) if t is not None]
            # Sleep until the next due time; a new reminder or question rings the bell.
            self._timer_bell.wait(max(0.0, min(nxt) - self.clock()) if nxt else None)

    # -- status and threads -----------------------------------------------

    def set_status(self, caller, text):
        _text(text, "text", limit=MAX_STATUS_TEXT, empty_ok=True)
        now = self.clock()

        def write():
            self.store.set_agent(caller, status_text=text or None, status_set_at=now)
            self._emit("agent_changed", name=caller, status_text=text)
        self._write(write)
        return {}

    def open_threads(self, caller):
        everyone = caller in (MANAGER, OPERATOR)
        threads = []
        for a in self.store.approvals("pending"):
            threads.append({"kind": "approval", "id": a["id"], "agent": a["agent"],
                            "summary": f"{a['kind']} {a['agent']}", "requested_at": a["requested_at"]})
        if not everyone:
            threads = [t for t in threads if t["agent"] == caller]
        for q in self.store.open_questions():
            if everyone or caller in (q["asker"], q["target"]):
                threads.append({"kind": "question", "id": q["id"], "asker": q["asker"],
                                "target": q["target"] or OPERATOR, "summary": q["question"][:200]})
        return {"threads": threads}

    def report(self, caller, **fields):
        """The harness reports its live state (turn state, model, login, last turn)."""
        allowed = {"turn_state", "turn_state_since", "turn_state_until", "model",
                   "needs_login", "last_turn_at", "status", "port"}
        changed = {k: v for k, v in fields.items() if k in allowed}
        self._runtime[caller].update(changed)
        self._write_relaxed(lambda: self._emit("agent_changed", name=caller, **changed))
        if self.lifecycle is not None:
            # config_sha and config_error: what a settling config's rollout goes by.
            self.lifecycle.rollouts.reported(caller, fields)
        return {}

    def runtime(self, name):
        return dict(self._runtime.get(name, {}))

    def forget_runtime(self, name):
        self._runtime.pop(name, None)

    def _paused(self, name):
        return self._agents.get(name, False)

    def set_paused(self, name, paused):
        self._need_agent(name)
        if not isinstance(paused, bool):
            raise BadArgs("`paused` must be true or false")

        def write():
            self.store.set_agent(name, paused=paused)
            self._emit("agent_changed", name=name, paused=paused)
        self._write(write)
        self._agents[name] = paused
        if not paused:
            self._ring(name)
        return {"name": name, "paused": paused}

    def status_rows(self):
        unread = self.store.unread_counts()
        reminders = self.store.pending_reminder_counts()
        return [self._status_row(a, unread, reminders) for a in self.store.agents()]

    def _status_row(self, agent, unread, reminders):
        name = agent["name"]
        rt = self._runtime.get(name, {})
        life = self.lifecycle.state(name) if self.lifecycle else {}
        return {
            "name": name,
            "running": life.get("running", False),
            "failed": life.get("failed", False),
            "paused": bool(agent["paused"]),
            "needs_login": bool(rt.get("needs_login", False)),
            "needs_update": life.get("needs_update", False),
            "turn_state": rt.get("turn_state") if life.get("running") else None,
            "turn_state_since": rt.get("turn_state_since"),
            "turn_state_until": rt.get("turn_state_until"),
            "model": rt.get("model") or life.get("model"),
            "port": life.get("port"),
            "unread": unread.get(name, 0),
            "pending_reminders": reminders.get(name, 0),
            "deployed_sha": life.get("deployed_sha"),
            "rollout": life.get("rollout"),
            "status_text": agent["status_text"],
            "status_set_at": agent["status_set_at"],
            "last_turn_at": rt.get("last_turn_at"),
            "transient": self._transients.get(name),
            "is_manager": name == MANAGER,
        }

    # -- transients (lifecycle steps in flight) -----------------------------

    def set_transient(self, name, step):
        self._transients[name] = step
        self._write_relaxed(lambda: self._emit("transient_set", name=name, step=step))

    def clear_transient(self, name):
        if self._transients.pop(name, None) is not None:
            self._write_relaxed(lambda: self._emit("transient_cleared", name=name))

    def transients(self):
        return dict(self._transients)

    # -- agent dirs: the lifecycle's records of them ------------------------

    def agent_dir(self, name):
        return self.store.agent_dir(name)

    def agent_dirs(self):
        return self.store.agent_dirs()

    def record_agent_dir(self, name, port, created_at=None, **fields):
        self._write(lambda: self.store.add_agent_dir(name, port, created_at or self.clock(),
                                                     **fields))

    def update_agent_dir(self, name, **fields):
        self._write(lambda: self.store.set_agent_dir(name, **fields))

    def forget_agent_dir(self, name):
        self._write(lambda: self.store.remove_agent_dir(name))

    # -- agents and approvals ----------------------------------------------

    def register_agent(self, name):
        def write():
            self.store.add_agent(name, self.clock())
            self._emit("agent_changed", name=name, added=True)
        self._write(write)
        self._agents.setdefault(name, False)

    def unregister_agent(self, name):
        def write():
            self.store.remove_agent(name)
            for a in self.store.approvals("pending", agent=name):
                self.store.set_approval(a["id"], self.clock(), status="cancelled",
                                        note="agent destroyed")
                self._emit("approval_resolved", id=a["id"], status="cancelled")
            self._emit("agent_removed", name=name)
        self._write(write)
        self._agents.pop(name, None)
        self.forget_runtime(name)

    def agent_changed(self, name, **fields):
        self._write_relaxed(lambda: self._emit("agent_changed", name=name, **fields))

    def request_spawn(self, caller, name, description=None):
        names.check_new(name)
        if description is not None:
            _text(description, "description", limit=MAX_DESCRIPTION, empty_ok=True)
        if self.is_agent(name):
            raise Conflict(f"an agent named {name!r} already exists")
        if self._spawn_waiting(name):
            raise Conflict(f"a spawn of {name!r} is already waiting for approval")
        self._check_pending_approvals(caller)
        if self.lifecycle:
            self.lifecycle.check_port(name)

        def write():
            aid = self.store.add_approval(name, "spawn", self.clock(), description=description)
            self._emit("approval_added", id=aid, agent=name, kind="spawn",
                       description=description, requested_by=caller)
            return aid
        return {"name": name, "id": self._write(write)}

    def pending(self):
        return {"approvals": [_shown(a) for a in self.store.approvals("pending")]}

    def _check_pending_approvals(self, caller):
        """The manager may keep the operator only so busy; the operator's own go on."""
        if caller == OPERATOR:
            return
        waiting = len(self.store.approvals("pending"))
        if waiting >= MAX_PENDING_APPROVALS:
            raise Conflict(f"{waiting} approvals already wait for the operator, the most there "
                           "may be; wait for them to be decided before asking for more")

    def approval_diff(self, caller, id):
        """The whole diff of an approval and its sha256, which `approve` takes as proof
        that it was read when pages show only part of it."""
        approval = self.store.approval(id) if isinstance(id, int) else None
        if approval is None or approval["diff"] is None:
            raise NotFound(f"there is no approval #{id} with a diff")
        return {"id": approval["id"], "agent": approval["agent"], "kind": approval["kind"],
                "status": approval["status"], "fetched_sha": approval["fetched_sha"],
                "diff_stat": approval["diff_stat"] or "", "diff": approval["diff"],
                "diff_sha256": repos.diff_digest(approval["diff"])}

    def approve(self, caller, id, diff_sha256=None):
        approval = self._pending_approval(id)
        _check_diff_read(approval, diff_sha256)
        if approval["kind"] == "apply_commit" and self.lifecycle \
                and self.lifecycle.settling(approval["agent"]):
            raise Conflict(f"{approval['agent']} is still settling on its last approved config; "
                           f"approve #{approval['id']} once that is deployed or rolled back")
        self._resolve_approval(approval, "approved", None)
        status, note, extra = "approved", None, {}
        try:
            if approval["kind"] == "spawn" and approval["fetched_sha"]:
                extra = self.lifecycle.spawn_draft(approval)
                self._write(lambda: self._emit("draft_removed", name=approval["agent"]))
            elif approval["kind"] == "spawn":
                self.lifecycle.spawn(approval["agent"])
            elif approval["kind"] == "apply_commit":
                extra = self.lifecycle.apply_commit(approval)
            else:
                raise Unavailable(f"approvals of kind {approval['kind']!r} cannot be applied")
        except Exception as exc:
            status, note = "failed", getattr(exc, "message", None) or str(exc)
            self._write(lambda: self._fail_approval(approval["id"], note))
        self.notify(MANAGER, "approval_resolved", id=approval["id"], agent=approval["agent"],
                    kind=approval["kind"], commit_ref=approval["commit_ref"], status=status,
                    note=note, **extra)
        if status == "failed":
            raise Conflict(f"approval #{approval['id']} failed: {note}")
        return {"id": approval["id"], "status": status,
                **({"rollout": extra["rollout"]} if "rollout" in extra else {})}

    def rollout_deployed(self, approval_id, agent, sha, kind):
        """An approved config stayed up through its settle time: it is deployed."""
        self._write(lambda: self._emit("config_deployed", id=approval_id, agent=agent,
                                       sha=sha, kind=kind))
        self.notify(MANAGER, "config_deployed", id=approval_id, agent=agent, kind=kind,
                    sha=sha, tag=f"deployed/{approval_id}")

    def rollout_failed(self, approval_id, agent, sha, kind, reason, rolled_back_to=None,
                       built_on_it=()):
        """An approved config did not survive its settle time and was rolled back: the
        approval is marked failed, and the manager and the operator hear why. Pending
        approvals `built_on_it` fail too: their diffs do not show its changes."""
        fields = {"id": approval_id, "agent": agent, "kind": kind, "sha": sha,
                  "tag": f"failed/{approval_id}", "reason": reason,
                  "rolled_back_to": rolled_back_to, "also_failed": list(built_on_it)}
        stale = (f"it builds on the config of approval #{approval_id}, which failed and was "
                 "rolled back; propose it again on top of `applied/main`")

        def write():
            self.store.set_approval(approval_id, self.clock(), status="failed", note=reason)
            self._emit("config_rolled_back", **fields)
            for other in built_on_it:
                self._fail_approval(other, stale)
        self._write(write)
        self.notify(MANAGER, "config_rolled_back", **fields)
        self.notify(OPERATOR, "config_rolled_back", **fields)

    def deny(self, caller, id, note=None):
        if note is not None:
            _text(note, "note", limit=MAX_DESCRIPTION, empty_ok=True)
        approval = self._pending_approval(id)
        self._resolve_approval(approval, "denied", note or None)
        if approval["fetched_sha"] and self.lifecycle:
            self.lifecycle.deny_commit(approval, note)
        self.notify(MANAGER, "approval_resolved", id=approval["id"], agent=approval["agent"],
                    kind=approval["kind"], commit_ref=approval["commit_ref"], status="denied",
                    note=note or None)
        return {"id": approval["id"], "status": "denied"}

    def _pending_approval(self, id):
        approval = self.store.approval(id) if isinstance(id, int) else None
        if approval is None:
            raise NotFound(f"there is no approval #{id}")
        if approval["status"] != "pending":
            raise Conflict(f"approval #{id} is already {approval['status']}")
        return approval

    def _resolve_approval(self, approval, status, note):
        """The one step that decides an approval: whoever loses a race hears it was
        resolved meanwhile, and carries nothing out."""
        def write():
            if not self.store.resolve_approval(approval["id"], self.clock(), status, note):
                current = self.store.approval(approval["id"])
                raise Conflict(f"approval #{approval['id']} is already "
                               f"{current['status'] if current else 'gone'}")
            self._emit("approval_resolved", id=approval["id"], agent=approval["agent"],
                       status=status, note=note)
        self._write(write)

    def _fail_approval(self, approval_id, note):
        self.store.set_approval(approval_id, self.clock(), status="failed", note=note)
        self._emit("approval_resolved", id=approval_id, status="failed", note=note)

    # -- lifecycle verbs (delegated) -----------------------------------------

    def _life(self):
        if self.lifecycle is None:
            raise Unavailable("this host has no container backend")
        return self.lifecycle

    def spawn(self, caller, name):
        return self._life().spawn(name)

    def start_agent(self, caller, name):
        self._need_agent(name)
        return self._life().start(name)

    def stop_agent(self, caller, name):
        self._need_agent(name)
        return self._life().stop(name)

    def restart_agent(self, caller, name):
        self._need_agent(name)
        return self._life().restart(name)

    def rebuild_agent(self, caller, name):
        self._need_agent(name)
        return self._life().rebuild(name)

    def destroy_agent(self, caller, name, purge=False):
        if name == MANAGER:
            raise Forbidden("the manager cannot be destroyed")
        names.check(name)
        return self._life().destroy(name, purge=bool(purge))

    def purge_kept(self, caller, name):
        names.check(name)
        if self.is_agent(name):
            raise Conflict(f"{name!r} is a live agent; destroy it with purge instead")
        return self._life().purge(name)

    def kept_state(self):
        life = self._life()
        return [life.kept_info(n) for n in life.kept_names()]

    def journal_query(self, caller, name):
        """Where an agent's (or kept state's) journal is and which records are its own,
        as its backend knows: for `ctl logs` and the journal panel."""
        names.check(name)
        life = self._life()
        if not self.is_agent(name) and name not in life.kept_names():
            raise NotFound(f"there is no agent or kept state named {name}")
        return life.backend.journal_query(name)

    # -- drafts (two-step spawn) ---------------------------------------------

    def request_spawn_draft(self, caller, name, description=None):
        """Create a future agent's repos and state dir, no container, no approval yet."""
        if description is not None:
            _text(description, "description", limit=MAX_DESCRIPTION, empty_ok=True)
        drafts = len(self._life().draft_names())
        if caller != OPERATOR and drafts >= MAX_DRAFTS:
            raise Conflict(f"{drafts} drafts are waiting already, the most there may be; "
                           "commit or discard one before starting another")
        result = self._life().create_draft(name, description or None, by=caller)
        self._write(lambda: self._emit("draft_added", name=name, description=description,
                                       by=caller))
        return result

    def request_spawn_commit(self, caller, name, commit_ref, description=None):
        """Ask the operator to boot a draft from one commit of its proposed repo."""
        names.check(name)
        if not self._life().is_draft(name):
            raise NotFound(f"there is no draft named {name!r}; create one with "
                           "request_spawn_draft first")
        if description is not None:
            _text(description, "description", limit=MAX_DESCRIPTION, empty_ok=True)
        if self._spawn_waiting(name):
            raise Conflict(f"a spawn of {name!r} is already waiting for approval")
        return {"name": name, **self._queue_commit(caller, name, "spawn", commit_ref,
                                                   description)}

    def drafts(self):
        life = self._life()
        return {"drafts": [life.draft_info(n) for n in life.draft_names()]}

    def discard_draft(self, caller, name):
        names.check(name)
        life = self._life()
        if self._spawn_waiting(name):
            raise Conflict(f"the draft {name!r} is waiting for approval; deny it first")
        result = life.discard_draft(name)
        self._write(lambda: self._emit("draft_removed", name=name))
        if caller != MANAGER:
            self.notify(MANAGER, "draft_discarded", agent=name)
        return result

    def request_apply_commit(self, caller, agent, commit_ref, description=None):
        self._need_agent(agent)
        if description is not None:
            _text(description, "description", limit=MAX_DESCRIPTION, empty_ok=True)
        return self._queue_commit(caller, agent, "apply_commit", commit_ref, description)

    def _queue_commit(self, caller, agent, kind, commit_ref, description):
        """An approval that carries a commit of the agent's proposed repo and its diff."""
        self._check_pending_approvals(caller)
        proposal = self._life().propose_commit(agent, commit_ref)
        sha = proposal.sha
        _, cut, length = repos.shown_diff(proposal.diff)

        def write():
            aid = self.store.add_approval(agent, kind, self.clock(), commit_ref=commit_ref,
                                          description=description, fetched_sha=sha,
                                          diff=proposal.diff, diff_stat=proposal.stat)
            # The event names the diff's size; pages fetch the diff itself with the snapshot.
            self._emit("approval_added", id=aid, agent=agent, kind=kind,
                       description=description, requested_by=caller, sha=sha,
                       diff_stat=proposal.stat[:repos.DIFF_SHOWN_CHARS],
                       diff_truncated=cut, diff_length=length)
            return aid
        aid = self._write(write)
        self._life().tag_proposal(agent, aid, sha)
        return {"id": aid, "sha": sha}

    def _spawn_waiting(self, name):
        return any(a["agent"] == name and a["kind"] == "spawn" for a in self.store.approvals())

    # -- retention ---------------------------------------------------------------

    def prune(self, now=None, batch=retention.BATCH, pause=retention.PAUSE_SECONDS):
        """Delete what is older than the retention setting and no longer live: acked
        messages, resolved approvals, answered questions, delivered reminders. At most
        `batch` rows per transaction; {table: rows deleted, "batches": transactions}.
        (Dashboard events need none: the newest EVENTS_KEPT are kept.)"""
        before = retention.cutoff(self.retention_days, now or self.clock())
        done = {"messages": 0, "approvals": 0, "questions": 0, "reminders": 0, "batches": 0}
        if before is None:
            return done
        cursor = [0]

        def messages():
            n, cursor[0] = self._write_relaxed(
                lambda: self.store.prune_messages(before, cursor[0], batch))
            return n, cursor[0] is not None

        def rows_of(prune):
            def one_batch():
                n = self._write_relaxed(lambda: prune(before, batch))
                return n, n == batch
            return one_batch
        for table, delete_batch in (("messages", messages),
                                    ("approvals", rows_of(self.store.prune_approvals)),
                                    ("questions", rows_of(self.store.prune_questions)),
                                    ("reminders", rows_of(self.store.prune_reminders))):
            done[table], batches = retention.drain(delete_batch, pause)
            done["batches"] += batches
        return done

    def disk_state(self):
        """{"full": bool, "since": time or None}: the dashboard's banner."""
        return self.disk.snapshot()

    # -- dashboard events ----------------------------------------------------

    def events_after(self, seq, kinds=None):
        events = self.store.events_after(seq)
        if kinds:
            events = [e for e in events if e["kind"] in kinds]
        return events

    def last_seq(self):
        return self.store.last_event_seq()
