"""Messaging: send (and its policy), recv with long-poll, ack, requeue, undeliver, wake,
broadcast, system messages, and what an inbox and its threads look like.

Long-poll receivers park on a per-recipient doorbell that a send rings after its
commit; nothing here polls.
"""

from . import bounds, checks
from .errors import BadArgs, Forbidden, NotFound
from .names import BROADCAST, MANAGER, OPERATOR, SYSTEM

BROADCAST_HINT = "this was a broadcast to every agent and may not need any action from you"
HARNESS_EVENTS = ("turn_failed", "plugin_install_failed", "needs_login")


def public(m):
    """A message as its recipient reads it."""
    out = {"id": m["id"], "from": m["sender"], "body": m["body"], "sent_at": m["sent_at"],
           "in_reply_to": m["in_reply_to"], "redelivered": bool(m["redelivered"])}
    if m.get("broadcast"):
        out["broadcast"] = True
        out["hint"] = BROADCAST_HINT
    return out


def flow_row(m):
    """A message as the dashboard's flow shows it: both ends and its delivery marks."""
    return {"id": m["id"], "from": m["sender"], "to": m["recipient"], "body": m["body"],
            "sent_at": m["sent_at"], "delivered_at": m["delivered_at"],
            "acked_at": m["acked_at"], "in_reply_to": m["in_reply_to"]}


class Messages:
    def __init__(self, bus, agents, allowed_recipients=lambda name: [], held=lambda name: False):
        self.bus = bus
        self.store = bus.store
        self.agents = agents
        self.allowed_recipients = allowed_recipients    # name -> the config's list
        self.held = held            # name -> whether its daily budget holds its messages

    # -- system messages --------------------------------------------------------

    def notify(self, to, event, **fields):
        """Send a system message (JSON body with `event`) and wake the recipient."""
        if to != OPERATOR and not self.agents.exists(to):
            return None
        msg_id = self.bus.write(lambda: self.bus.post_system(to, event, **fields))
        self.bus.ring(to)
        return msg_id

    def notify_manager(self, caller, event, detail=None):
        """A harness reports something about itself to the manager, as a system message."""
        if event not in HARNESS_EVENTS:
            raise BadArgs(f"`event` must be one of {', '.join(HARNESS_EVENTS)}")
        if caller == MANAGER:
            return {"id": None}
        fields = {k: v for k, v in (detail or {}).items() if k not in ("event", "agent")}
        return {"id": self.notify(MANAGER, event, agent=caller, **fields)}

    # -- sending ------------------------------------------------------------------

    def send(self, caller, to, body, in_reply_to=None):
        checks.text(body, "body")
        if not isinstance(to, str) or not to:
            raise BadArgs("`to` must name an agent, 'manager', 'operator' or '*'")
        if in_reply_to is not None and self.store.message(in_reply_to) is None:
            raise NotFound(f"there is no message #{in_reply_to} to reply to")
        recipients = self._recipients(caller, to)
        self.check_policy(caller, to, "send to")

        def write():
            return [self.bus.post(caller, r, body, in_reply_to, broadcast=(to == BROADCAST))
                    for r in recipients]
        ids = self.bus.write(write)
        for r in recipients:
            self.bus.ring(r)
        if to == BROADCAST:
            return {"id": ids[0] if ids else None, "ids": ids, "recipients": recipients}
        return {"id": ids[0]}

    def _recipients(self, caller, to):
        if to == BROADCAST:
            return [n for n in self.agents.names() if n != caller]
        if to == OPERATOR:
            return [OPERATOR]
        if to == caller:
            raise BadArgs("you cannot send a message to yourself; use `remind` or notes instead")
        if not self.agents.exists(to):
            known = ", ".join(self.agents.names()) or "none"
            raise NotFound(f"there is no agent named {to[:40]!r} (agents: {known}; "
                           "also 'operator', 'manager' and '*')")
        return [to]

    def check_policy(self, caller, to, action):
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

    def wake(self, caller, label, body):
        """A script inside the agent wakes it. The sender is `wake:<label>`, so no label
        can pass for the operator, the system, the manager or another agent."""
        checks.check_wake(label, body)
        msg_id = self.bus.write(lambda: self.bus.post(f"wake:{label}", caller, body))
        self.bus.ring(caller)
        return {"id": msg_id}

    # -- receiving ------------------------------------------------------------------

    def recv(self, caller, wait_seconds=0, max=1):
        if not isinstance(max, int) or not 1 <= max <= bounds.MAX_BATCH:
            raise BadArgs(f"`max` must be between 1 and {bounds.MAX_BATCH}")
        if not isinstance(wait_seconds, (int, float)) or wait_seconds < 0:
            raise BadArgs("`wait_seconds` must be a number of seconds, 0 or more")
        deadline = self.bus.clock() + min(wait_seconds, bounds.MAX_WAIT)
        bell = self.bus.bell(caller)
        rung = False
        while True:
            # Clear before looking: a send that lands after the look rings again,
            # so the wait below returns at once instead of sleeping it out.
            bell.clear()
            # Without hand-overs (PostgreSQL), a bell that rang most likely means a
            # message: take at once rather than ask first whether there is one.
            messages, unread = self._take(caller, max, probe=self.bus.hands_over or not rung)
            if messages:
                return self._received(caller, messages, unread)
            remaining = deadline - self.bus.clock()
            if remaining <= 0:
                return {"messages": [], "unread": 0}
            handed = self._wait(caller, bell, remaining, parkable=messages is None)
            if handed:
                return self._received(caller, [public(handed)])
            rung = True

    def _take(self, caller, limit, probe=True):
        """The oldest unread messages, marked delivered, and how many are left unread
        (None: not counted). None for the messages when the inbox was empty just now,
        with nothing yielded since: the caller may park for a hand-over."""
        if self.agents.paused(caller) or self.held(caller):
            return [], None
        if probe and not self.store.has_unread(caller):
            return None, None

        def write():
            rows, unread = self.store.take_messages_counted(caller, limit, self.bus.clock())
            for r in rows:
                self.bus.emit("delivered", id=r["id"], to=caller, sender=r["sender"])
            return rows, unread
        rows, unread = self.bus.write_relaxed(write)
        return [public(m) for m in rows], unread

    def _wait(self, caller, bell, seconds, parkable):
        """Sleep until the bell rings; the message a send handed over on the way, if any."""
        if not parkable or not self.bus.hands_over:
            bell.wait(seconds)
            return None
        parked = self.bus.park(caller)
        try:
            bell.wait(seconds)
        finally:
            self.bus.unpark(caller, parked)
        return parked.row

    def _received(self, caller, messages, unread=None):
        if unread is None:
            unread = self.store.unread_count(caller)
        return {"messages": messages, "unread": unread}

    def undeliver(self, ids, recipient=None):
        """A reply carrying these messages never reached the caller: put them back."""
        if not ids:
            return {"undelivered": 0}

        def write():
            n = self.store.undeliver(ids, recipient)
            if n and recipient:
                self.bus.left_unread(recipient)
            return n
        n = self.bus.write_relaxed(write)
        if n and recipient:
            self.bus.ring(recipient)
        return {"undelivered": n}

    def ack(self, caller, ids):
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise BadArgs("`ids` must be a list of message ids")

        def write():
            n = self.store.ack(caller, ids, self.bus.clock())
            if n:
                self.bus.emit("acked", to=caller, ids=ids)
            return n
        return {"acked": self.bus.write_relaxed(write)}

    def requeue(self, caller):
        def write():
            n = self.store.requeue(caller)
            if n:
                self.bus.left_unread(caller)
                self.bus.emit("agent_changed", name=caller,
                              unread=self.store.unread_count(caller))
            return n
        n = self.bus.write(write)
        if n:
            self.bus.ring(caller)
        return {"requeued": n}

    # -- reading back ---------------------------------------------------------------

    def status(self, caller):
        return {"unread": self.store.unread_count(caller),
                "pending_reminders": self.store.pending_reminders(caller),
                "open_threads": len(self.open_threads(caller)["threads"])}

    def recent(self, caller, limit=20):
        if not isinstance(limit, int) or not 1 <= limit <= 500:
            raise BadArgs("`limit` must be between 1 and 500")
        return {"messages": [public(m) for m in self.store.recent(caller, limit)]}

    def inbox(self, limit=50):
        return self.recent(OPERATOR, limit)

    def flow(self, limit=200):
        return [flow_row(m) for m in self.store.recent_all(limit)]

    def open_threads(self, caller):
        """Pending approvals and open questions that involve the caller (all, for the
        manager and the operator)."""
        everyone = caller in (MANAGER, OPERATOR)
        threads = [{"kind": "approval", "id": a["id"], "agent": a["agent"],
                    "summary": f"{a['kind']} {a['agent']}", "requested_at": a["requested_at"]}
                   for a in self.store.approvals("pending")
                   if everyone or a["agent"] == caller]
        for q in self.store.open_questions():
            if everyone or caller in (q["asker"], q["target"]):
                threads.append({"kind": "question", "id": q["id"], "asker": q["asker"],
                                "target": q["target"] or OPERATOR,
                                "summary": q["question"][:200]})
        return {"threads": threads}
