"""The nixos backend: each agent in a NixOS container built with `nixos-container`.

The host writes one flake per agent (agentflake.py), builds and starts its container
with the command lines of `nixos_commands`, and reads crashes from systemd's records
in the journal: its containers are systemd units, not children of the host.
"""

import logging
import os
import socket
import subprocess
import time
from pathlib import Path

import gevent
from gevent.socket import wait_read

from . import journal, names
from .agentflake import agent_flake, check_flake_inputs
from .agentspec import STOP_GRACE, container_binds
from .errors import Unavailable

log = logging.getLogger(__name__)


def nixos_commands(name, action, flake=None):
    """nixos-container command lines for an action on one agent."""
    machine = names.container_name(name)
    table = {
        "create": [["nixos-container", "create", machine, "--flake", flake]],
        "update": [["nixos-container", "update", machine, "--flake", flake]],
        "start": [["nixos-container", "start", machine]],
        "stop": [["nixos-container", "stop", machine]],
        "restart": [["nixos-container", "stop", machine], ["nixos-container", "start", machine]],
        "rebuild": [["nixos-container", "update", machine, "--flake", flake],
                    ["nixos-container", "stop", machine], ["nixos-container", "start", machine]],
        "destroy": [["nixos-container", "destroy", machine]],
        "status": [["nixos-container", "status", machine]],
    }
    if action not in table:
        raise ValueError(f"unknown action {action!r}")
    return table[action]


# The messages systemd writes when a unit stops or fails (systemd's sd-messages.h).
UNIT_STOPPED = "9d1aaa27d60140bd96365438aad20286"
UNIT_FAILED = "be02cf6855d2428ba40df7e9d022f03d"
CONTAINERS_CONF = Path("/etc/nixos-containers")
# Where nixos-container keeps each container's root, its journal in it.
CONTAINERS_ROOT = Path("/var/lib/nixos-containers")
# The crash watch opens the journal afresh this often, picking up where it was, so a
# journal dir that appears later (journald started after the host) is followed too.
REOPEN_EVERY = 60
# Runtime units: writable on NixOS (its /etc/systemd/system is the system's, read-only),
# and the host rewrites its drop-ins before each start.
RUNTIME_UNITS = Path("/run/systemd/system")
LIMITS_DROP_IN = "50-hyperhive-limits.conf"


class NixosBackend:
    """Each agent in a `nixos-container` h-<name>, built from a flake the host writes.

    The flake (one per agent, in BUILD_DIR/<name>) turns the applied repo's agent.json,
    and its agent.nix when there is one, into a NixOS container through the hyperhive
    flake's `lib.agentSystem`. The agent's dirs reach the container through the
    container's conf file (EXTRA_NSPAWN_FLAGS), which is also where it is told to share
    the host's network. Containers are systemd units, not children: they outlive a
    host restart, and a stop nobody asked for is read from the journal.
    """

    name = "nixos"

    def __init__(self, on_exit, build_dir, flake=None, conf_dir=CONTAINERS_CONF,
                 journal_dir=None, containers_root=CONTAINERS_ROOT, flake_inputs=None,
                 unit_dir=None):
        self.flake = flake
        if not self.flake:
            raise ValueError("the nixos backend builds agents from the hyperhive flake: set "
                             "HYPERHIVE_FLAKE (the NixOS module does) to its path or URL")
        self.flake_inputs = check_flake_inputs(flake_inputs or {})
        self.on_exit = on_exit
        self.build_dir = Path(build_dir)
        self.conf_dir = Path(conf_dir)
        self.journal_dir = journal_dir       # None: the system's journal
        self.containers_root = Path(containers_root)
        self.unit_dir = Path(unit_dir or RUNTIME_UNITS)
        self._up = {}              # name -> running, as last done or seen
        self._stopping = set()
        self._watcher = None

    # -- the per-agent flake -------------------------------------------------

    def write_flake(self, spec):
        """BUILD_DIR/<name>/flake.nix; returns the flake reference to build."""
        out = self.build_dir / spec.name
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".flake.nix.tmp"
        tmp.write_text(agent_flake(spec, self.flake, self.flake_inputs))
        os.replace(tmp, out / "flake.nix")
        # Its inputs are this host's own repos: lock them afresh, so a build never
        # takes the config an old lock file pinned.
        (out / "flake.lock").unlink(missing_ok=True)
        return f"path:{out}#{spec.name}"

    def conf_lines(self, spec):
        """The settings the host owns in the container's conf file."""
        flags = [f"--bind={host}:{inside}" for host, inside in container_binds(spec)]
        if spec.ids:
            # The container's own tree (its /etc, /var) is chowned into its range once.
            flags.append("--private-users-ownership=chown")
        flags = " ".join(flags)
        lines = {"EXTRA_NSPAWN_FLAGS": f'"{flags}"', "PRIVATE_NETWORK": "0",
                 "HOST_ADDRESS": "", "LOCAL_ADDRESS": "", "HOST_ADDRESS6": "",
                 "LOCAL_ADDRESS6": "", "HOST_BRIDGE": ""}
        if spec.ids:
            # The container@ unit passes it as --private-users=BASE (65536 uids from
            # BASE) and id-maps its /nix binds; the agent's own dirs are chowned into
            # the range by the host.
            lines["PRIVATE_USERS"] = str(spec.ids.userns)
        return lines

    def write_conf(self, spec):
        path = self.conf_dir / f"{names.container_name(spec.name)}.conf"
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        wanted = self.conf_lines(spec)
        kept = [line for line in lines if line.split("=", 1)[0] not in wanted]
        path.write_text("\n".join(kept + [f"{k}={v}" for k, v in wanted.items()]) + "\n")

    def write_limits(self, spec):
        """The container unit's drop-in with the agent's limits (none: no drop-in);
        True when it changed, so systemd must reload its units."""
        unit = f"container@{names.container_name(spec.name)}.service"
        path = self.unit_dir / f"{unit}.d" / LIMITS_DROP_IN
        text = limits_drop_in(spec)
        try:
            old = path.read_text()
        except FileNotFoundError:
            old = None
        if text == old:
            return False
        if text is None:
            path.unlink()
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{LIMITS_DROP_IN}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return True

    def limits_note(self, spec):
        return None         # the container's unit carries them

    # -- verbs -----------------------------------------------------------------

    def start(self, name, spec):
        machine = names.container_name(name)
        flake = self.write_flake(spec)
        exists = (self.conf_dir / f"{machine}.conf").exists()
        steps = ["update" if exists else "create"]
        self._run(nixos_commands(name, steps[0], flake))
        self.write_conf(spec)
        if self.write_limits(spec):
            self._run([["systemctl", "daemon-reload"]])
        self._run(nixos_commands(name, "start"))
        self._up[name] = True
        self._ensure_watch()
        log.info("started %s (nixos-container %s)", name, machine, extra={"HIVE_AGENT": name})

    def stop(self, name, grace=STOP_GRACE):
        if not self.running(name):
            return False
        self._stopping.add(name)
        try:
            self._run(nixos_commands(name, "stop"))
        finally:
            self._up[name] = False
            gevent.spawn_later(5, self._stopping.discard, name)
        return True

    def remove(self, name):
        """Destroy the container itself (destroy and purge of the agent)."""
        self.stop(name)
        self._run(nixos_commands(name, "destroy"), check=False)
        self._up.pop(name, None)
        drop_in = self.unit_dir / f"container@{names.container_name(name)}.service.d"
        (drop_in / LIMITS_DROP_IN).unlink(missing_ok=True)
        try:
            drop_in.rmdir()
        except OSError:
            pass        # not there, or holds the operator's own drop-ins

    def running(self, name):
        if name not in self._up:
            # Once per agent after a host start: the container may have kept running.
            out = self._run(nixos_commands(name, "status"), check=False)
            self._up[name] = out.strip() == "up"
        return self._up[name]

    def stop_all(self, grace=STOP_GRACE):
        """Containers outlive the host: their harnesses ride out its restart."""
        if self._watcher is not None:
            self._watcher.kill()

    def _run(self, commands, check=True):
        out = ""
        for argv in commands:
            proc = subprocess.run(argv, capture_output=True, text=True)
            if check and proc.returncode != 0:
                raise Unavailable(f"{' '.join(argv[:3])} failed ({proc.returncode}): "
                                  f"{(proc.stderr or proc.stdout).strip()[-500:]}")
            out = proc.stdout
        return out

    # -- crash watch -------------------------------------------------------------

    def _ensure_watch(self):
        if self._watcher is None or self._watcher.dead:
            self._watcher = gevent.spawn(self._watch_journal)

    def _watch_journal(self):
        """Follow systemd's unit records; a container that stops unasked is a crash.

        systemd.journal.Reader, woken through its inotify fd by gevent: Reader.wait()
        would block every greenlet of the host.
        """
        where = {"cursor": None, "opened": False}
        said = None
        while True:
            try:
                self._follow(where)
                said = None
            except Exception as exc:
                if str(exc) != said:        # once per trouble, not every 5 seconds
                    log.warning("cannot follow the journal for container crashes: %s", exc)
                    said = str(exc)
                gevent.sleep(5)

    def _follow(self, where):
        """Hand on each crash record until REOPEN_EVERY seconds passed; `where` keeps the
        position across reopenings, so no record is missed or read twice."""
        reader = journal.open_reader(self.journal_dir)
        try:
            reader.add_match(f"MESSAGE_ID={UNIT_STOPPED}", f"MESSAGE_ID={UNIT_FAILED}")
            if where["cursor"]:
                reader.seek_cursor(where["cursor"])
                reader.get_next()           # the record read last time
            elif where["opened"]:
                reader.seek_head()          # none existed before: all of them are new
            else:
                reader.seek_tail()          # what happened before the host started is past
                last = reader.get_previous()
                where["cursor"] = last.get("__CURSOR")
            where["opened"] = True
            until = time.monotonic() + REOPEN_EVERY
            while time.monotonic() < until:
                for entry in iter(reader.get_next, {}):
                    where["cursor"] = entry["__CURSOR"]
                    self._crashed(crashed_agent(entry))
                try:
                    wait_read(reader.fileno(), timeout=max(until - time.monotonic(), 0.01))
                except socket.timeout:
                    pass
                reader.process()
        finally:
            reader.close()

    def _crashed(self, name):
        if name and self._up.get(name) and name not in self._stopping:
            self._up[name] = False
            self.on_exit(name, None)

    def journal_query(self, name):
        """A NixOS container runs its own journald: `journalctl -M h-<name>`, or its files
        under the container's root for a Reader."""
        machine = names.container_name(name)
        return journal.check_query({
            "machine": machine, "matches": [],
            "directory": str(self.containers_root / machine / "var/log/journal")})

    def journal_uids(self, ids):
        """A container's own journal holds its records alone: no uid narrows it."""
        return None


def crashed_agent(entry):
    """The agent whose container unit a journal record reports stopped; else None.

    Only systemd itself (uid 0) speaks for units: a record another user wrote with the
    same fields is not believed. Values come as a Reader converts them (an int _UID, a
    UUID MESSAGE_ID) or as plain strings.
    """
    if not isinstance(entry, dict) or str(entry.get("_UID")) != "0":
        return None
    message_id = entry.get("MESSAGE_ID")
    if getattr(message_id, "hex", message_id) not in (UNIT_STOPPED, UNIT_FAILED):
        return None
    unit = entry.get("UNIT")
    prefix, suffix = "container@h-", ".service"
    if not (isinstance(unit, str) and unit.startswith(prefix) and unit.endswith(suffix)):
        return None
    name = unit[len(prefix):-len(suffix)]
    return name if names.is_valid(name) else None


def limits_drop_in(spec):
    """The text of the container unit's drop-in for the agent's limits; None: none."""
    if not spec.limits:
        return None
    lines = "".join(f"{prop}\n" for prop in spec.limits.properties())
    return (f"# Written by the hyperhive host from {spec.name}'s agent.json; "
            f"rewritten at each start.\n[Service]\n{lines}")

