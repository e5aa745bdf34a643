"""Work one host of a hive asks another to carry out: a lifecycle verb for an agent that
the other host runs (its home host is the one with its container and dirs), or taking a
moved agent in.

The asking host writes a row to the `work` table and, in the same transaction, NOTIFYs
`hh.work.<target>`. The target hears it, takes the rows addressed to it (SELECT ... FOR
UPDATE SKIP LOCKED: each row once), runs each verb locally through the same method a
local call would, writes the reply (or the error's code and sentence) and NOTIFYs
`hh.done.<asker>`. The asker waits for that (bounded) and answers what the verb
answered, or raised. A host that (re)connects takes what was left for it meanwhile.

A row for a host that is down is not written: the answer is `unavailable`, at once. A
host that goes down with a row still waiting gets it dropped by the asker; one that goes
down while carrying a row out leaves an asker that says so.
"""

import logging
import time

import gevent
from gevent.event import Event

from .errors import HiveError, Unavailable, UnknownCmd, from_code

log = logging.getLogger(__name__)

WAIT_SECONDS = 60.0       # how long an asker waits for the reply
LOOK_SECONDS = 1.0        # between its looks at the row and at the target's heartbeat
STALE_SECONDS = 120.0     # a row older than this when taken is not carried out
KEPT_SECONDS = 86400.0    # rows are forgotten a day after they were asked
PRUNE_EVERY = 3600.0


def work_channel(host):
    return f"hh.work.{host}"


def done_channel(host):
    return f"hh.done.{host}"


def down_sentence(host):
    return (f"host {host!r} is down (no heartbeat for a while), and only it can do this; "
            "try again once it is back")


class Worklist:
    def __init__(self, bus, hosts):
        self.bus = bus
        self.store = bus.store
        self.hosts = hosts
        self.name = hosts.name
        self.verbs = {}                    # verb -> fn(caller, **args), run on this host
        self._done_bells = {}              # work id -> Event, rung when its row is done
        self._take_bell = Event()
        self._greenlet = None
        self._pruned_at = 0.0

    def offer(self, verb, fn):
        """This host carries out `verb` for others with `fn(caller, **args)`."""
        self.verbs[verb] = fn

    def start(self):
        self.hosts.hear(work_channel(self.name), self._heard_work)
        self.hosts.hear(done_channel(self.name), self._heard_done)
        self._greenlet = gevent.spawn(self._taking)
        self._take_bell.set()              # what was left for this host while it was away

    def stop(self):
        if self._greenlet is not None:
            self._greenlet.kill()

    # -- asking --------------------------------------------------------------------

    def ask(self, host, verb, caller, **args):
        """Have `host` run `verb`: its reply, or the error it raised, raised here."""
        if host == self.name:
            return self._verb(verb)(caller, **args)
        if self.hosts.is_down(host):
            raise Unavailable(down_sentence(host))

        def write():
            work_id = self.store.add_work(host, verb, args, caller, self.name,
                                          self.bus.clock())
            self.store.announce(work_channel(host), str(work_id))
            return work_id
        work_id = self.bus.write(write)
        bell = self._done_bells[work_id] = Event()
        try:
            return self._wait(work_id, host, verb, bell)
        finally:
            self._done_bells.pop(work_id, None)

    def _wait(self, work_id, host, verb, bell):
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            bell.clear()
            row = self.store.work(work_id)
            if row["done_at"] is not None:
                return _reply(row)
            if self.hosts.is_down(host) or time.monotonic() > deadline:
                self._give_up(row, host, verb)
            bell.wait(LOOK_SECONDS)

    def _give_up(self, row, host, verb):
        down = self.hosts.is_down(host)
        why = down_sentence(host) if down else (
            f"host {host!r} did not take the {verb} within {WAIT_SECONDS:g} s")
        dropped = self.bus.write(lambda: self.store.drop_work(
            row["id"], self.bus.clock(), Unavailable.code, why))
        if dropped:
            raise Unavailable(why)
        raise Unavailable(
            f"host {host!r} took the {verb} but " +
            ("went down before it said how it ended" if down else
             f"did not finish it within {WAIT_SECONDS:g} s") +
            "; its dashboard shows where the agent stands")

    def _heard_done(self, payload):
        if payload is None:             # notices were cut off: every asker looks again
            for bell in self._done_bells.values():
                bell.set()
            return
        try:
            bell = self._done_bells.get(int(payload))
        except ValueError:
            return
        if bell is not None:
            bell.set()

    # -- carrying out ----------------------------------------------------------------

    def _heard_work(self, _payload):
        self._take_bell.set()

    def _taking(self):
        while True:
            self._take_bell.wait()
            self._take_bell.clear()
            try:
                rows = self.bus.write(lambda: self.store.take_work(self.name, self.bus.clock()))
            except Exception:
                log.exception("taking this host's work failed")
                gevent.sleep(LOOK_SECONDS)
                self._take_bell.set()
                continue
            for row in rows:
                gevent.spawn(self._carry_out, row)
            self._prune()

    def _prune(self):
        now = self.bus.clock()
        if now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        try:
            self.bus.write_relaxed(lambda: self.store.prune_work(now - KEPT_SECONDS))
        except Exception:
            log.exception("forgetting old work rows failed")

    def _carry_out(self, row):
        result = code = message = None
        try:
            if self.bus.clock() - row["created_at"] > STALE_SECONDS:
                raise Unavailable(f"the {row['verb']} was asked too long ago; ask again")
            result = self._verb(row["verb"])(row["caller"], **row["args"])
        except HiveError as exc:
            code, message = exc.code, exc.message
        except Exception as exc:
            log.exception("%s for host %s failed", row["verb"], row["requester"])
            code, message = "internal", f"{type(exc).__name__}: {exc}"

        def write():
            self.store.finish_work(row["id"], self.bus.clock(), result, code, message)
            self.store.announce(done_channel(row["requester"]), str(row["id"]))
        try:
            self.bus.write(write)
        except Exception:
            log.exception("could not tell host %s how its %s ended", row["requester"],
                          row["verb"])

    def _verb(self, verb):
        fn = self.verbs.get(verb)
        if fn is None:
            raise UnknownCmd(f"host {self.name!r} does not carry out {verb!r} for others")
        return fn


def _reply(row):
    if row["error_code"] is not None:
        raise from_code(row["error_code"], row["error_message"] or "")
    return row["result"]
