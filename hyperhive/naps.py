"""Every wait of the serve loop between turns: a nap claude asked for, a rest after a
rate limit, and the waits for a login. The operator's cancel ends a nap or a rest; a
finished login or a stop cuts any of them short (a rate-limit rest a stop cut short goes
on at the next start).
"""

import math
import time

from gevent.event import Event

from .bounds import MAX_RATE_LIMIT_REST
from .errors import BadArgs
from .login import has_credentials, wait_for_credentials
from .states import TurnState

MAX_NAP = 24 * 3600
NAP_FILE = "hyperhive-nap"
# The end of a rate-limit rest: a restart in the middle rests out the rest of it.
RATE_LIMIT_FILE = "hyperhive-rate-limited"
# A rate limit is waited out a little past its reset: the API's clock and ours differ.
RESET_MARGIN = 5


def rate_limit_end(reset, now, fallback):
    """When a rate-limited agent takes its message again: a little after the reset claude
    named, `fallback` seconds from now when it named none, never more than a day ahead."""
    end = now + fallback if reset is None else max(now, reset + RESET_MARGIN)
    return min(end, now + MAX_RATE_LIMIT_REST)


class Naps:
    def __init__(self, harness, files):
        self.harness = harness
        self.files = files
        self.until = files.read_float(NAP_FILE)
        self.rate_limited_until = files.read_float(RATE_LIMIT_FILE)
        self._wakeup = Event()

    def interrupt(self):
        """End the current wait now (the loop then looks at why it was woken)."""
        self._wakeup.set()

    def nap(self, seconds):
        if not isinstance(seconds, (int, float)) or not 0 < seconds <= MAX_NAP:
            raise BadArgs(f"`seconds` must be between 0 and {MAX_NAP}")
        self.until = time.time() + seconds
        self.files.write(NAP_FILE, self.until)
        until = time.strftime("%H:%M:%S", time.localtime(self.until))
        return {"until": self.until,
                "text": f"napping until {until} ({int(seconds)}s): finish this turn; new "
                        "messages wait in the inbox until then (the operator can wake you)"}

    def cancel(self):
        """The operator ends the nap; False when there is none."""
        if not self.until:
            return False
        self.until = None
        self.files.write(NAP_FILE, None)
        self._wakeup.set()
        return True

    def cancel_rest(self):
        """The operator ends a rate-limit rest: the refused message is tried at once (the
        operator knows the limit lifted, or wants the next refusal now). False when the
        agent is not resting."""
        if self.rate_limited_until is None:
            return False
        self._end_rest()
        self._wakeup.set()
        return True

    def sleep_out(self):
        self._rest_out_rate_limit()
        harness = self.harness
        if not self.until or self.until <= time.time():
            self._clear()
            return
        if harness.state != TurnState.NAPPING:
            harness.set_state(TurnState.NAPPING, until=self.until)
        self._wakeup.clear()
        self._wakeup.wait(max(0, self.until - time.time()))
        cut_short = self.until is None
        self._clear()
        if not harness.stopping.is_set():
            harness.bus.emit("note", level="info", text="nap ended by the operator" if cut_short
                             else "nap over: taking messages again")

    def _clear(self):
        if self.until is not None:
            self.until = None
            self.files.write(NAP_FILE, None)
        if self.harness.state == TurnState.NAPPING:
            self.harness.set_state(TurnState.IDLE)

    def rest_after_rate_limit(self, reset):
        """Take no messages until the rate limit lifts; the refused one comes back then."""
        now = time.time()
        until = rate_limit_end(reset, now, self.harness.settings.rate_limit_sleep)
        why = "the reset claude reported" if reset is not None else "no reset time was given"
        self._rest(until, f"({int(until - now)}s; {why}), then retrying the message")

    def _rest_out_rate_limit(self):
        """What is left of a rest a restart cut short (the refused message waits meanwhile)."""
        until = self.rate_limited_until
        if until is None:
            return
        if not math.isfinite(until) or until <= time.time():
            self._end_rest()
            return
        self._rest(min(until, time.time() + MAX_RATE_LIMIT_REST),
                   "(the rest of a rest the harness restarted in)")

    def _rest(self, until, how):
        harness = self.harness
        self.rate_limited_until = until
        self.files.write(RATE_LIMIT_FILE, until)
        # Before the status, so whatever shows the status has the time with it.
        harness.link.report(rate_limited_until=until)
        harness.set_status("rate_limited")
        at = time.strftime("%H:%M:%S", time.localtime(until))
        harness.bus.emit("note", level="warn", text=f"rate limited: resting until {at} {how}")
        self._wakeup.clear()
        self._wakeup.wait(max(0, until - time.time()))
        if harness.stopping.is_set():
            return      # a stop cut the rest short: the next start rests out what is left
        self._end_rest()
        self._back_online()

    def _end_rest(self):
        self.rate_limited_until = None
        self.files.write(RATE_LIMIT_FILE, None)

    def park_for_login(self):
        self.harness.set_status("needs_login_idle")
        self.harness.link.tell_manager("needs_login")
        self._wakeup.clear()
        wait_for_credentials(self.harness.settings.environ, self._wakeup, require_change=True)
        self._back_online()

    def _back_online(self):
        if self.harness.stopping.is_set():
            return
        self.harness.link.requeue()
        self.harness.set_status("online")

    def wait_for_login(self):
        environ = self.harness.settings.environ
        if has_credentials(environ):
            return
        self.harness.set_status("needs_login_idle")
        self.harness.link.tell_manager("needs_login")
        while not has_credentials(environ) and not self.harness.stopping.is_set():
            wait_for_credentials(environ, self._wakeup)
            self._wakeup.clear()
