"""Moving a stopped agent to another host of the hive (`hyperhive ctl move NAME HOST`).

The move is carried out by the hosts concerned, through work rows (worklist.py), from
whichever host the operator asked:
1. its home host makes sure it is stopped (a running agent is refused, with a sentence);
2. the new host takes its dirs in: when it can read them at the path the old host
   recorded (the hosts share storage), it moves them into its own root; when they are
   already in its root (copied by hand), it takes them as they are; otherwise the reply
   says the hosts do not share storage and what to copy where. Then it records itself as
   the agent's home (its registry row and its dirs' row) and opens its sockets;
3. the old host closes its sockets.
Its unacked messages stay in the database; the harness requeues them at its next start,
so they come back flagged `redelivered`.
"""

import logging
import os
import shutil
import time
from pathlib import Path

from . import repos
from .errors import Conflict, HiveError, NotFound, Unavailable

log = logging.getLogger(__name__)

# How long a host holds an agent on its way out (no lifecycle verb on it) when the host
# that asked for the move never says how it ended.
HOLD_SECONDS = 180.0


class Moves:
    def __init__(self, broker, worklist):
        self.agents = broker.agents
        self.hosts = broker.hosts
        self.bus = broker.bus
        self.store = broker.store
        self.lifecycle = broker.lifecycle
        self.worklist = worklist
        self._leaving = {}                 # name -> when its move out of here began
        worklist.offer("move_out", self.release)
        worklist.offer("move_in", self.take_in)
        worklist.offer("moved_away", self.let_go)
        worklist.offer("move_failed", self.stay)

    def move(self, caller, name, host):
        """Re-home the stopped agent `name` to `host`."""
        self.agents.need(name)
        if not self.hosts.known(host):
            known = ", ".join(h["name"] for h in self.hosts.hosts())
            raise NotFound(f"there is no host named {host!r} in this hive (hosts: {known})")
        home = self.agents.home(name) or self.hosts.name
        if home == host:
            raise Conflict(f"{name!r} runs on host {host!r} already")
        if self.hosts.is_down(host):
            raise Unavailable(f"host {host!r} is down: it cannot take {name!r} in now")
        if self.hosts.is_down(home):
            root = self._root_of(home)     # down: it runs nothing
        else:
            root = self.worklist.ask(home, "move_out", caller, name=name)["root"]
        try:
            result = self.worklist.ask(host, "move_in", caller, name=name, source=home,
                                       root=root)
        except HiveError:
            self._tell(home, "move_failed", caller, name)
            raise
        self._tell(home, "moved_away", caller, name)
        return result

    def _tell(self, home, verb, caller, name):
        if self.hosts.is_down(home):
            return
        try:
            self.worklist.ask(home, verb, caller, name=name)
        except HiveError as exc:
            log.warning("host %s did not hear %s of %s: %s", home, verb, name, exc.message)

    def busy(self, name):
        """A sentence while `name` is on its way out of this host, else None."""
        began = self._leaving.get(name)
        if began is None or time.monotonic() - began > HOLD_SECONDS:
            return None
        return f"{name!r} is being moved to another host; try again once it is"

    def _root_of(self, host):
        return next((h["root"] for h in self.hosts.hosts() if h["name"] == host), None)

    # -- on the old home host --------------------------------------------------------

    def release(self, caller, name):
        """`name` may leave: it is stopped. Where its dirs are on this host's disk."""
        self._check_home(name)
        if busy := self.busy(name):
            raise Conflict(busy)
        if self.lifecycle.state(name)["running"] or self.agents.transients().get(name):
            raise Conflict(f"{name!r} is running; stop it first (`hyperhive ctl stop {name}`), "
                           "then move it")
        self.lifecycle.set_stopped(name, True)      # no start at this host's next boot
        self._leaving[name] = time.monotonic()      # and no lifecycle verb until it left
        return {"root": str(self.lifecycle.places.lib)}

    def let_go(self, caller, name):
        """`name` runs elsewhere now: its sockets here close."""
        self._leaving.pop(name, None)
        self.lifecycle.remove(name)
        self.agents.forget_runtime(name)
        return {"name": name}

    def stay(self, caller, name):
        """The move failed: `name` is this host's as before."""
        self._leaving.pop(name, None)
        return {"name": name}

    # -- on the new home host ----------------------------------------------------------

    def take_in(self, caller, name, source, root):
        places = self.lifecycle.places
        mine = {"agents": places.agent_dir(name), "applied": places.applied_repo(name)}
        theirs = {k: Path(root or "/nonexistent") / k / name for k in mine}
        if all(p.is_dir() for p in mine.values()):
            how = "taken as they were in this host's root"
        elif all(_readable(p) for p in theirs.values()):
            for kind, src in theirs.items():
                mine[kind].parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(src), str(mine[kind]))
            how = "moved from host " + repr(source)
        else:
            raise Conflict(_not_shared(name, source, self.hosts.name, theirs, mine))
        self._repoint(name)
        self._make_home(name)
        self.lifecycle.set_stopped(name, True)      # it runs here once the operator says so
        return {"name": name, "host": self.hosts.name, "from": source, "dirs": how}

    def _make_home(self, name):
        def write():
            self.store.set_home(name, self.hosts.name)
            self.bus.emit("agent_changed", name=name, host=self.hosts.name)
        self.bus.write(write)
        self.agents.reload()
        self.agents.added_here(name)
        self.lifecycle.places.hive_dir(name).mkdir(parents=True, exist_ok=True)
        self.lifecycle.own_dirs(name)
        self.lifecycle.open_socket(name)

    def _repoint(self, name):
        """The proposed repo sees the deployed one through its `applied` remote, by path."""
        places = self.lifecycle.places
        try:
            repos.git(places.config_repo(name), "remote", "set-url", "applied",
                      str(places.applied_repo(name)))
        except (repos.GitError, OSError) as exc:
            log.warning("could not point %s's proposed repo at its applied one: %s",
                        name, exc)

    def _check_home(self, name):
        self.agents.need(name)
        if not self.agents.is_here(name):
            raise Conflict(f"{name!r} runs on host {self.agents.home(name)!r}, not here")


class NoHosts:
    """What a lone host answers to `move`."""

    def move(self, caller, name, host):
        raise Unavailable("this host is not one of a hive of several (hyperhive host "
                          "--broker postgresql://...): there is no other host to move to")


def _readable(path):
    return path.is_dir() and os.access(path, os.R_OK | os.X_OK)


def _not_shared(name, source, here, theirs, mine):
    copies = "; ".join(f"{source}:{theirs[k]} to {here}:{mine[k]}" for k in mine)
    return (f"hosts {source!r} and {here!r} do not share storage: {here} cannot read "
            f"{theirs['agents']}. Copy {copies} (keeping owners and modes), then run "
            f"`hyperhive ctl move {name} {here}` again")
