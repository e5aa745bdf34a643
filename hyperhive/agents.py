"""The agent registry: who the agents are, their paused flags and status text, what their
harnesses last reported, the lifecycle step each is in, and the host's records of their
dirs and uid slots. The dashboard's status rows are read from here.
"""

import time
from collections import defaultdict

from . import bounds, checks, names
from .errors import BadArgs, NotFound
from .names import MANAGER

# A name not known here makes a host of several read the registry, at most this often (s).
RELOAD_AT_MOST_EVERY = 0.5
# What a harness may report about itself; the rest of a report is for the rollout.
REPORTED = ("turn_state", "turn_state_since", "turn_state_until", "model", "needs_login",
            "last_turn_at", "status", "port", "rate_limited_until")


class Agents:
    def __init__(self, bus, host=None):
        self.bus = bus
        self.store = bus.store
        self.host = host                    # this host's name in a hive of several
        self._runtime = defaultdict(dict)   # what each harness last reported
        self._transients = {}               # name -> lifecycle step in flight
        self.added_here = lambda name: None  # hosts.py listens for its messages
        self.reload()

    def reload(self):
        """Read the registry. A lone host is its only writer, and keeps names and paused
        flags in memory rather than ask the database on every message; in a hive of
        several, another host's change to it makes this host read it again (hosts.py)."""
        self._read_at = time.monotonic()
        rows = self.store.agents()
        was_paused = getattr(self, "_paused", {})
        self._paused = {a["name"]: bool(a["paused"]) for a in rows}
        self._home = {a["name"]: a["host"] for a in rows}
        for name, paused in self._paused.items():
            if was_paused.get(name) and not paused and self.is_here(name):
                self.bus.ring(name)       # resumed on another host: take what waited

    # -- who is an agent, and where ----------------------------------------------

    def exists(self, name):
        if (name not in self._paused and self.host is not None and isinstance(name, str)
                and time.monotonic() - self._read_at > RELOAD_AT_MOST_EVERY):
            # Added on another host a moment ago, its event not relayed yet? Asked at
            # most so often: an agent naming unknown agents must not read the registry
            # for each request.
            self.reload()
        return name in self._paused

    def names(self):
        return list(self._paused)

    def home(self, name):
        """The host that runs `name` (None: a lone host's agent)."""
        return self._home.get(name)

    def is_here(self, name):
        return self.host is None or self._home.get(name) in (None, self.host)

    def here(self):
        """The agents this host runs."""
        return [n for n in self._paused if self.is_here(n)]

    def need(self, name):
        names.check(name)
        if not self.exists(name):
            raise NotFound(f"there is no agent named {name!r}")
        return name

    def register(self, name):
        def write():
            self.store.add_agent(name, self.bus.clock(), host=self.host)
            self.bus.emit("agent_changed", name=name, added=True)
        self.bus.write(write)
        self._paused.setdefault(name, False)
        self._home.setdefault(name, self.host)
        self.added_here(name)

    def unregister(self, name):
        """The agent is gone, and so are the approvals that waited on it."""
        def write():
            self.store.remove_agent(name)
            for a in self.store.approvals("pending", agent=name):
                self.store.set_approval(a["id"], self.bus.clock(), status="cancelled",
                                        note="agent destroyed")
                self.bus.emit("approval_resolved", id=a["id"], status="cancelled")
            self.bus.emit("agent_removed", name=name)
        self.bus.write(write)
        self._paused.pop(name, None)
        self.forget_runtime(name)

    def changed(self, name, **fields):
        """Pages hear that something about an agent changed."""
        self.bus.write_relaxed(lambda: self.bus.emit("agent_changed", name=name, **fields))

    # -- paused and status text -------------------------------------------------

    def paused(self, name):
        return self._paused.get(name, False)

    def set_paused(self, name, paused):
        self.need(name)
        if not isinstance(paused, bool):
            raise BadArgs("`paused` must be true or false")

        def write():
            self.store.set_agent(name, paused=paused)
            if paused:
                self.bus.left_unread(name)     # a paused agent is handed nothing
            self.bus.emit("agent_changed", name=name, paused=paused)
        self.bus.write(write)
        self._paused[name] = paused
        if not paused:
            self.bus.ring(name)
        return {"name": name, "paused": paused}

    def set_status(self, caller, text):
        checks.text(text, "text", limit=bounds.MAX_STATUS_TEXT, empty_ok=True)
        now = self.bus.clock()

        def write():
            self.store.set_agent(caller, status_text=text or None, status_set_at=now)
            self.bus.emit("agent_changed", name=caller, status_text=text)
        self.bus.write(write)
        return {}

    # -- what harnesses report ----------------------------------------------------

    def report(self, caller, fields):
        changed = {k: v for k, v in fields.items() if k in REPORTED}
        self._runtime[caller].update(changed)
        self.changed(caller, **changed)

    def runtime(self, name):
        return dict(self._runtime.get(name, {}))

    def forget_runtime(self, name):
        self._runtime.pop(name, None)

    # -- lifecycle steps in flight ---------------------------------------------------

    def set_transient(self, name, step):
        self._transients[name] = step
        self.bus.write_relaxed(lambda: self.bus.emit("transient_set", name=name, step=step))

    def clear_transient(self, name):
        if self._transients.pop(name, None) is not None:
            self.bus.write_relaxed(lambda: self.bus.emit("transient_cleared", name=name))

    def transients(self):
        return dict(self._transients)

    # -- the host's records of agent dirs and uid slots -----------------------------------

    def dir(self, name):
        row = self.store.agent_dir(name)
        return row if row and (self.host is None or row["host"] in (None, self.host)) else None

    def dirs(self):
        """The records of the dirs on this host's disk."""
        return [d for d in self.store.agent_dirs()
                if self.host is None or d["host"] in (None, self.host)]

    def record_dir(self, name, port, created_at=None, **fields):
        self.bus.write(lambda: self.store.add_agent_dir(
            name, port, created_at or self.bus.clock(), host=self.host, **fields))

    def update_dir(self, name, **fields):
        self.bus.write(lambda: self.store.set_agent_dir(name, **fields))

    def forget_dir(self, name):
        self.bus.write(lambda: self.store.remove_agent_dir(name))

    def forget_draft(self, name):
        """True when this call discarded the draft's record (see store.remove_draft)."""
        return bool(self.bus.write(lambda: self.store.remove_draft(name)))

    def slot(self, name, slots, usable):
        return self.bus.write(lambda: self.store.agent_slot(name, slots, usable=usable))

    def free_slot(self, name):
        self.bus.write(lambda: self.store.free_slot(name))

    # -- the dashboard's rows ---------------------------------------------------------------

    def status_rows(self, machine=lambda name: {}, elsewhere=lambda name: None):
        """One row per agent; `machine(name)` is what its lifecycle knows (running, port...),
        `elsewhere(name)` what the home host of an agent of another host last said."""
        unread = self.store.unread_counts()
        reminders = self.store.pending_reminder_counts()
        rows = []
        for a in self.store.agents():
            if self.is_here(a["name"]):
                row = self._status_row(a, machine(a["name"]), unread, reminders)
            else:
                row = _remote_row(self._status_row(a, {}, unread, reminders),
                                  elsewhere(a["name"]))
            row["host"] = a["host"]
            rows.append(row)
        return rows

    def _status_row(self, agent, life, unread, reminders):
        name = agent["name"]
        rt = self._runtime.get(name, {})
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
            "rate_limited_until": _rate_limited_until(rt, life),
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


# What the home host of an agent says of it; the rest of its row is the database's.
_HOME_FIELDS = ("running", "failed", "needs_login", "needs_update", "turn_state",
                "turn_state_since", "turn_state_until", "rate_limited_until", "model", "port",
                "deployed_sha", "rollout", "last_turn_at", "transient")


def _remote_row(row, said):
    """An agent of another host: what its host last said, and whether that host is down
    (then it runs nothing anyone can see)."""
    if said is None or said.get("host_down"):
        row.update(running=False, turn_state=None, host_down=said is not None)
        return row
    row.update({k: said.get(k) for k in _HOME_FIELDS}, host_down=False)
    return row


def _rate_limited_until(rt, life):
    """Until when a running agent rests after a rate limit; None once it is back (the time
    it reported stays behind when its status moves on)."""
    if life.get("running") and rt.get("status") == "rate_limited":
        return rt.get("rate_limited_until")
    return None
