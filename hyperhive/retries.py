"""A failed turn is tried again: the same message, after a rest that doubles each time,
up to the attempts setting; after the last, the message goes to the host's failed list.

The attempts made on each message are kept in the harness dir (`hyperhive-attempts`),
so a harness that restarts mid-way (the message comes back with the requeue at start)
goes on counting instead of starting over, and a rest a stop cut short
(`hyperhive-retry`) is rested out before the next attempt. The host trusts none of it:
it checks what `fail_message` names and bounds what it carries.
"""

import json
import logging
import time

from gevent.event import Event

from .bounds import MAX_FAIL_NOTE, MAX_STDERR_TAIL
from .states import FAIL_OUTCOMES, TurnState

log = logging.getLogger(__name__)

ATTEMPTS_FILE = "hyperhive-attempts"
REST_FILE = "hyperhive-retry"         # "<message id> <end of the rest>", while resting
# Messages whose count is kept at once: more than one is only ever a leftover.
KEPT_COUNTS = 32


def cut_tail(text, limit):
    """The last `limit` bytes of `text`, on a character boundary."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[-limit:].decode(errors="ignore")


def cut_head(text, limit):
    """The first `limit` bytes of `text`, on a character boundary."""
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")


class Retries:
    def __init__(self, harness, files):
        self.harness = harness
        self.files = files
        self.limit = harness.settings.turn_attempts
        self.first_rest = harness.settings.turn_retry_seconds
        self.until = None           # the end of the rest before the next attempt
        self._wakeup = Event()

    # -- the count ------------------------------------------------------------------------

    def counts(self):
        """{message id: failed attempts}, as the file has it; anything odd counts as none."""
        try:
            raw = json.loads(self.files.read(ATTEMPTS_FILE) or "{}")
        except ValueError:
            return {}
        if not isinstance(raw, dict):
            return {}
        return {k: v for k, v in raw.items()
                if k.isdigit() and isinstance(v, int) and not isinstance(v, bool) and v > 0}

    def attempts(self, msg_id):
        return self.counts().get(str(msg_id), 0)

    def _save(self, counts):
        kept = dict(sorted(counts.items(), key=lambda kv: int(kv[0]))[-KEPT_COUNTS:])
        self.files.write(ATTEMPTS_FILE, json.dumps(kept) if kept else None)

    def count_failure(self, msg_id):
        """One more failed attempt on `msg_id`: how many there have been."""
        counts = self.counts()
        counts[str(msg_id)] = counts.get(str(msg_id), 0) + 1
        self._save(counts)
        return counts[str(msg_id)]

    def forget(self, msg_id):
        counts = self.counts()
        if counts.pop(str(msg_id), None) is not None:
            self._save(counts)

    def rest_seconds(self, attempts):
        """The rest after the `attempts`-th failure: the setting, doubled each time after."""
        return self.first_rest * 2 ** (attempts - 1)

    # -- after a turn -----------------------------------------------------------------------

    def after(self, message, result):
        """What follows a turn on `message`: True to run it again (after the rest)."""
        if result.outcome not in FAIL_OUTCOMES:
            # Done with it (an operator's cancel acks it too). A stop's cancel, a rate
            # limit or a login leaves it to come back: its count stays.
            if result.outcome == "ok" or (result.outcome == "cancelled"
                                          and self.harness.turns.operator_cancel):
                self.forget(message["id"])
            return False
        harness = self.harness
        if harness.stopping.is_set():
            return False        # the next start takes it again, with this count
        attempts = self.count_failure(message["id"])
        if attempts >= self.limit:
            self.give_up(message, result, attempts)
            return False
        seconds = self.rest_seconds(attempts)
        harness.bus.emit("note", level="warn", text=f"turn {result.outcome} (attempt "
                         f"{attempts} of {self.limit}): trying message #{message['id']} "
                         f"again in {seconds:g}s")
        self.rest(seconds, message["id"])
        return not harness.stopping.is_set()

    def give_up(self, message, result, attempts):
        """Hand the message to the host's failed list; the host acks it and tells the manager."""
        harness = self.harness
        tail = cut_tail("\n".join(result.stderr_tail or []), MAX_STDERR_TAIL)
        note = cut_head(result.note or "", MAX_FAIL_NOTE)
        reply = harness.link.call("fail_message", id=message["id"], outcome=result.outcome,
                                  note=note, stderr_tail=tail, attempts=attempts)
        if reply is None and harness.stopping.is_set():
            return              # not handed over: the next start takes it again
        self.forget(message["id"])
        harness.bus.emit("note", level="error", text=f"message #{message['id']} failed "
                         f"{attempts} time{'s' if attempts != 1 else ''}: it is on the "
                         "failed list, for the operator to retry or discard")
        harness.bus.emit("failed_changed", id=message["id"])

    # -- the rest ---------------------------------------------------------------------------

    def rest(self, seconds, msg_id=None):
        harness = self.harness
        self.until = time.time() + seconds
        if msg_id is not None:
            self.files.write(REST_FILE, f"{msg_id} {self.until}")
        harness.set_state(TurnState.RETRYING, until=self.until)
        self._wakeup.clear()
        self._wakeup.wait(seconds)
        self.until = None
        if not harness.stopping.is_set():
            self.files.write(REST_FILE, None)   # a stop keeps it for the next start
        if harness.state == TurnState.RETRYING:
            harness.set_state(TurnState.IDLE)

    def resume(self, message):
        """Before the first turn on `message` since a start: the rest a stop cut short, if
        it was this message's, is rested out first."""
        kept = (self.files.read(REST_FILE) or "").split()
        if not kept:
            return
        self.files.write(REST_FILE, None)
        try:
            msg_id, until = int(kept[0]), float(kept[1])
        except (ValueError, IndexError):
            return
        left = until - time.time()
        if msg_id == message["id"] and left > 0:
            self.rest(min(left, self.rest_seconds(self.limit)), msg_id)

    def interrupt(self):
        """End the rest now: a stop, or the operator's cancel (the next attempt starts)."""
        if self.until is None:
            return False
        self._wakeup.set()
        return True
