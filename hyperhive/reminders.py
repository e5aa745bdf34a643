"""Reminders, and the timers that deliver them and expire questions at their deadlines.

One greenlet sleeps until the next due time; a new reminder or question deadline rings
`bus.timer_bell`. `run_due()` is one pass of it, callable directly (tests drive it with
an injected clock, with no real sleep).
"""

import logging
import os

import gevent

from . import bounds, checks, safefs
from .errors import BadArgs, Conflict, DiskFull, HiveError, NotFound
from .names import OPERATOR

log = logging.getLogger(__name__)

# How long the timers wait before trying a due reminder again on a full disk.
DISK_RETRY_SECONDS = 30
SENDER = "reminder"
# A due reminder another host must deliver (its file is there) is looked at again after:
LEFT_RETRY_SECONDS = 5


class Reminders:
    def __init__(self, bus, questions):
        self.bus = bus
        self.store = bus.store
        self.questions = questions
        self._greenlet = None

    def remind(self, caller, message, delay_seconds=None, at=None, file_path=None):
        if (delay_seconds is None) == (at is None):
            raise BadArgs("give exactly one of `delay_seconds` and `at`")
        limit = bounds.MAX_BODY if file_path else bounds.MAX_REMINDER_TEXT
        if not file_path and isinstance(message, str) and len(message.encode()) > limit:
            raise BadArgs(f"a reminder message over {limit} bytes needs `file_path`: the text "
                          "is written there and the reminder points at it")
        checks.text(message, "message", limit=limit)
        now = self.bus.clock()
        due = _due(now, delay_seconds, at)
        if file_path is not None:
            checks.reminder_path(file_path)   # its shape now; the file is written when due

        def write():
            self._check_pending(caller)       # in the write: a burst cannot slip past
            rid = self.store.add_reminder(caller, message, due, now, file_path)
            self.bus.emit("reminder_added", id=rid, agent=caller, due_at=due)
            return rid
        rid = self.bus.write(write)
        self.bus.timer_bell.set()
        self.bus.announce_timers()
        return {"id": rid, "due_at": due}

    def pending(self, caller, agent=None):
        """The caller's own pending reminders; the operator's: every agent's, or `agent`'s."""
        if caller != OPERATOR:
            if agent not in (None, caller):
                # Said alike whether that agent exists or not.
                raise BadArgs("you can list only your own reminders; leave `agent` out")
            agent = caller
        return {"reminders": self.store.reminders_pending(agent)}

    def cancel(self, caller, id):
        """Cancel a pending reminder: an agent only its own (another's id reads as unknown,
        never as someone else's), the operator any. Of this and the timer's delivery only
        one wins: both are a conditional write on the same row."""
        owner = None if caller == OPERATOR else caller

        def write():
            if not self.store.cancel_reminder(id, owner):
                raise NotFound(f"there is no pending reminder #{id}")
            self.bus.emit("reminder_cancelled", id=id, by=caller)
        self.bus.write(write)
        return {}

    def _check_pending(self, caller):
        pending = self.store.pending_reminders(caller)
        if pending >= bounds.MAX_PENDING_REMINDERS:
            raise Conflict(f"you have {pending} pending reminders, the most one agent may "
                           "have; wait for some to come due before setting more")

    # -- timers ----------------------------------------------------------------

    def start(self):
        self._greenlet = gevent.spawn(self._run)

    def stop(self):
        if self._greenlet:
            self._greenlet.kill()

    def run_due(self):
        """Deliver what is due and expire what is past its deadline, now; the next due
        time (None: nothing waits)."""
        now = self.bus.clock()
        left = False
        for r in self.store.due_reminders(now):
            if r["file_path"] and not self.questions.agents.is_here(r["agent"]):
                # Its file is on its home host's disk: that host delivers it.
                left = True
                continue
            self._deliver(r)
        self.questions.expire_due(now)
        due = [t for t in (self.store.next_reminder_due(), self.store.next_question_deadline())
               if t is not None]
        if left:
            due = [max(t, now + LEFT_RETRY_SECONDS) for t in due]
        return min(due) if due else None

    def _run(self):
        bell = self.bus.timer_bell
        while True:
            bell.clear()
            try:
                nxt = self.run_due()
            except DiskFull:
                # Logged once by the writer; what is due stays due, tried again later.
                bell.wait(DISK_RETRY_SECONDS)
                continue
            except Exception:
                log.exception("timer pass failed")
                nxt = None
            # Sleep until the next due time; a new reminder or question rings the bell.
            bell.wait(max(0.0, nxt - self.bus.clock()) if nxt is not None else None)

    def _deliver(self, r):
        body = r["message"]
        if r["file_path"]:
            try:
                self._write_file(r["agent"], r["file_path"], body)
                body = f"reminder: the text is in {r['file_path']}"
            except (OSError, HiveError) as exc:
                reason = getattr(exc, "message", None) or exc.args[-1]
                body = f"{body}\n(the text was not written to {r['file_path']}: {reason})"

        def write():
            msg_id = self.bus.post(SENDER, r["agent"], body)
            if not self.store.mark_reminder(r["id"], msg_id, self.bus.clock()):
                # delivered or cancelled meanwhile: rolls back the message
                raise Conflict("reminder no longer pending")
            self.bus.emit("reminder_delivered", id=r["id"], agent=r["agent"], message_id=msg_id)
        try:
            self.bus.write(write)
        except Conflict:
            return
        self.bus.ring(r["agent"])

    def _write_file(self, agent, file_path, text):
        """Through the agent's own tree, never a link it planted there (SPEC §12)."""
        why = "reminders are written only to regular files under /state"
        state = safefs.open_dir(self.bus.places.lib / "agents", f"{agent}/state")
        try:
            safefs.write_text(state, checks.reminder_path(file_path), text, create_dirs=True,
                              shown="/state", why=why)
        finally:
            os.close(state)


def _due(now, delay_seconds, at):
    if delay_seconds is not None:
        if not isinstance(delay_seconds, (int, float)) \
                or not 0 <= delay_seconds <= bounds.MAX_DELAY:
            raise BadArgs("`delay_seconds` must be between 0 and a year")
        return now + delay_seconds
    if not isinstance(at, (int, float)) or at > now + bounds.MAX_DELAY:
        raise BadArgs("`at` must be a unix time within the next year")
    return at
