"""Container backends: how an agent's harness is started, stopped and watched.

A backend turns an AgentSpec (host paths) into a command, runs it as a child
of the host, and reports an exit it did not ask for through
`on_exit(name, returncode)`. The process backend runs the harness directly;
the nspawn backend runs it inside `systemd-nspawn` with the agent's dirs bound
to the container paths of SPEC §2. The nixos backend builds a NixOS container
per agent with `nixos-container`, from a flake the host writes; its command
lines come from a pure function (`nixos_commands`), and it reads crashes from
systemd's records in the journal, since its containers are units, not children.
"""

import ctypes
import json
import logging
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import gevent
from gevent.socket import wait_read

from . import isolation, journal, launch, names
from .errors import Unavailable
from .limits import Limits
from .paths import PAGE_SOCK

log = logging.getLogger(__name__)

STOP_GRACE = 10

# Never handed to an agent: they belong to the host's own unit.
_HOST_ONLY = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")


@dataclass(frozen=True)
class AgentIds:
    """One agent's uids on the host (gid = uid): its harness's and its claude's.

    On the process backend the harness is root and claude has a uid of its own; in
    a container both live in the container's range, which starts at `userns`.
    """
    harness: int
    claude: int
    userns: int = None


@dataclass
class AgentSpec:
    """Everything a backend needs to run one agent, in host paths."""
    name: str
    manager: bool
    hive_dir: Path
    state_dir: Path
    claude_dir: Path
    home_dir: Path
    config_dir: Path            # the applied repo: agent.json lives here
    web: str                    # HOST:PORT where the host serves the agent's page
    claude_bin: str
    harness_dir: Path = None    # the harness's own files; None: next to the state dir
    agents_dir: Path = None     # the manager edits the agents' config repos here
    ids: AgentIds = None        # None: the host is not root and agents run as its user
    env: dict = field(default_factory=dict)
    limits: Limits = Limits()   # agent.json's cpu_quota and memory_max

    def harness_args(self, hive_dir, state_dir, harness_dir=None, claude_ids=None):
        args = ["agent", "--name", self.name, *(["--manager"] if self.manager else []),
                "--hive-dir", str(hive_dir), "--state-dir", str(state_dir),
                # The harness serves its page on a socket in its hive dir; the host
                # serves it to the operator on `web`, behind the session check.
                "--web", str(Path(hive_dir) / PAGE_SOCK), "--claude-bin", self.claude_bin]
        if harness_dir is not None:
            args += ["--harness-dir", str(harness_dir)]
        if claude_ids is not None:
            args += ["--claude-ids", f"{claude_ids}:{claude_ids}"]
        return args


class ProcessBackend:
    name = "process"

    def __init__(self, on_exit):
        self.on_exit = on_exit
        self.systemd = systemd_running()
        self._procs = {}
        self._claude_uids = {}
        self._stopping = set()

    def command(self, spec):
        """The harness as a plain child process (root when the host is), with the agent's
        own HOME; it starts claude as the agent's uid."""
        claude_ids = spec.ids.claude if spec.ids else None
        argv = [*launch.entry_argv(), *spec.harness_args(
            spec.hive_dir, spec.state_dir, spec.harness_dir, claude_ids)]
        env = {k: v for k, v in os.environ.items() if k not in _HOST_ONLY}
        env.update(spec.env, HOME=str(spec.home_dir), CLAUDE_CONFIG_DIR=str(spec.claude_dir),
                   USER=spec.name, LOGNAME=spec.name,
                   HYPERHIVE_AGENT_CONFIG=str(spec.config_dir / "agent.json"),
                   HIVE_LABEL=spec.name)
        if spec.agents_dir:
            env["HYPERHIVE_AGENTS_DIR"] = str(spec.agents_dir)
        if spec.limits and self.systemd:
            argv = scope_argv(argv, spec.limits)
        return argv, env, spec.state_dir

    def limits_note(self, spec):
        """Why the agent's limits are not applied; None when they are (or there are none)."""
        if spec.limits and not self.systemd:
            return (f"{spec.name}'s cpu_quota and memory_max are not applied: this machine "
                    "does not run systemd, which would enforce them")
        return None

    def start(self, name, spec):
        if self.running(name):
            return
        argv, env, cwd = self.command(spec)
        note = self.limits_note(spec)
        if note:
            log.warning("%s", note, extra={"HIVE_AGENT": spec.name})
        if spec.ids and spec.ids.harness == 0:
            # A claude whose harness died with an earlier host may still be running.
            kill_uid(spec.ids.claude)
            self._claude_uids[name] = spec.ids.claude
        proc = subprocess.Popen(argv, env=env, cwd=str(cwd), stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=die_with_parent)
        self._procs[name] = proc
        gevent.spawn(self._watch, name, proc)
        log.info("started %s (%s, pid %d)", name, self.name, proc.pid,
                 extra={"HIVE_AGENT": name})

    def _watch(self, name, proc):
        rc = proc.wait()
        if self._procs.get(name) is proc:
            del self._procs[name]
        if name in self._stopping:
            return          # stop() ends what is left of it
        self._end_strays(name)
        self.on_exit(name, rc)

    def stop(self, name, grace=STOP_GRACE):
        proc = self._procs.get(name)
        if proc is None:
            return False
        self._stopping.add(name)
        try:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log.warning("%s ignored SIGTERM for %ss; killing it", name, grace,
                            extra={"HIVE_AGENT": name})
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        finally:
            self._stopping.discard(name)
            self._procs.pop(name, None)
            self._end_strays(name)
        return True

    def _end_strays(self, name):
        """Once the harness is gone, nothing may go on running as the agent's uid: a
        process claude left behind (in a session of its own, say) would otherwise keep
        its hands on the agent's files, and on the next agent's once the uid is reused."""
        uid = self._claude_uids.pop(name, None)
        if uid is not None:
            kill_uid(uid)

    def running(self, name):
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    def pid(self, name):
        proc = self._procs.get(name)
        return proc.pid if proc else None

    def stop_all(self, grace=STOP_GRACE):
        greenlets = [gevent.spawn(self.stop, n, grace) for n in list(self._procs)]
        gevent.joinall(greenlets)

    def journal_query(self, name):
        """The harness logs into the host's journal: its records are the agent's fields."""
        return journal.check_query({"machine": None, "directory": journal.host_journal_dir(),
                                    "matches": journal.agent_matches(name)})


_PR_SET_PDEATHSIG = 1


def die_with_parent():
    """In a forked child: get SIGTERM when the parent dies, even by SIGKILL.

    Without it a killed host would leave its agents running, and the restarted
    host would start a second harness on the same inbox.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def kill_uid(uid):
    """SIGKILL every process of `uid` (never 0), the way only that uid can do it at once:
    `kill -KILL -1` as the uid reaches all of its processes in one call, forks and all."""
    if uid:
        subprocess.run([*isolation.setpriv_argv(uid, uid), "kill", "-KILL", "-1"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def systemd_running():
    """Whether systemd is this machine's init (sd_booted()'s test)."""
    return os.path.isdir("/run/systemd/system")


def scope_argv(argv, limits):
    """`argv` in a transient systemd scope with the agent's limits. systemd-run execs
    the command in its own process, so the pid the host watches is the harness's."""
    props = [arg for prop in limits.properties() for arg in ("-p", prop)]
    return ["systemd-run", "--scope", "--quiet", "--collect", *props, "--", *argv]


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class NspawnBackend(ProcessBackend):
    """Each harness in a `systemd-nspawn` container `h-<name>` sharing the host network.

    The container's root is a fresh tmpfs with the host's /usr read-only
    (`--volatile=yes`), in a user namespace of its own: its uid 0 is the first uid
    of the agent's range on the host (AgentIds.userns), its claude runs as uid
    1000 in there. Bound in: the agent's socket dir at /run/hive, its state,
    claude and home dirs at /state, /claude and /home/agent, the harness dir at
    /harness, and the code, Python and claude read-only at their own paths. The
    environment (credentials too) reaches the harness through /harness/env.json,
    never through a command line.

    Its journal is the process backend's (journal_query): the harness logs into the
    host's journal through the bound journal socket, and the container keeps none of
    its own, so even a registered one is read by the agent's fields, not `-M`.
    """

    name = "nspawn"
    # Settings a harness needs from the host's environment; nothing else crosses.
    PASS_ENV = ("ANTHROPIC_", "CLAUDE_CODE_", "DISABLE_", "HYPERHIVE_LOG", "HYPERHIVE_LOGIN_CMD",
                "HYPERHIVE_RATE_LIMIT_SLEEP", "HYPERHIVE_NOTES_LIMIT", "HYPERHIVE_RETENTION_DAYS",
                "PATH", "LANG")
    ENV_FILE = "/harness/env.json"
    CONFIG_FILE = "/harness/agent.json"

    def __init__(self, on_exit):
        super().__init__(on_exit)
        # Registered containers show in `machinectl list` and can be entered with
        # `machinectl shell`; nspawn refuses to start one it cannot register.
        self.register = machined_available()
        if self.register:
            log.info("systemd-machined is running: nspawn containers are registered machines")
        else:
            log.info("systemd-machined is not running: nspawn containers start with "
                     "--register=no")

    def command(self, spec):
        read_only = [(p, p) for p in _code_paths(spec.claude_bin)]
        binds = container_binds(spec)
        if os.path.isdir("/run/systemd/journal"):
            binds.append(("/run/systemd/journal", "/run/systemd/journal"))
        harness = [*launch.entry_argv(), *spec.harness_args(
            "/run/hive", "/state", "/harness",
            isolation.CONTAINER_CLAUDE_UID if spec.ids else None),
            "--env-file", self.ENV_FILE]
        if os.path.isabs(spec.claude_bin):
            harness[harness.index("--claude-bin") + 1] = os.path.realpath(spec.claude_bin)
        argv = nspawn_start_argv(spec.name, "/", binds, read_only, harness,
                                 userns=spec.ids.userns if spec.ids else None,
                                 register=self.register)
        argv = nspawn_limited(argv, spec.limits, self.systemd)
        return argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, spec.state_dir

    def limits_note(self, spec):
        if spec.limits and _own_scope(self.command(spec)[0]):
            return None
        return super().limits_note(spec)

    def environment(self, spec):
        """What the harness inside finds in /harness/env.json."""
        env = {k: v for k, v in os.environ.items() if k.startswith(self.PASS_ENV)}
        env.update(spec.env, HOME=CONTAINER_HOME, CLAUDE_CONFIG_DIR="/claude", USER=spec.name,
                   LOGNAME=spec.name, HYPERHIVE_AGENT_CONFIG=self.CONFIG_FILE,
                   HIVE_LABEL=spec.name)
        if spec.agents_dir:
            env["HYPERHIVE_AGENTS_DIR"] = "/agents"
        return env

    def start(self, name, spec):
        if self.running(name):
            return
        owner = spec.ids.harness if spec.ids else os.geteuid()
        write_private(spec.harness_dir / "env.json", json.dumps(self.environment(spec)), owner)
        try:
            config = (spec.config_dir / "agent.json").read_text()
        except OSError:
            config = "{}"
        write_private(spec.harness_dir / "agent.json", config, owner)
        super().start(name, spec)


MACHINED = "org.freedesktop.machine1"
SYSTEM_BUS = "/run/dbus/system_bus_socket"


def machined_available():
    """True if systemd-machined is on the system bus, or D-Bus starts it on demand (as on
    any systemd machine): then nspawn can register containers. Without a bus: False, at once."""
    if not os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") and not os.path.exists(SYSTEM_BUS):
        return False
    for method in ("ListNames", "ListActivatableNames"):
        try:
            out = subprocess.run(["busctl", "--system", "call", "org.freedesktop.DBus",
                                  "/org/freedesktop/DBus", "org.freedesktop.DBus", method],
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return False
        if f'"{MACHINED}"' in out.split():
            return True
    return False


def nspawn_limited(argv, limits, systemd):
    """An nspawn command line that holds the container to `limits`, as far as this
    machine can: nspawn's own --property when it registers the container in a scope of
    its own, else the whole of it in a transient scope (systemd-run), else unchanged."""
    if not limits:
        return argv
    if _own_scope(argv):
        at = argv.index("--")
        return [*argv[:at], *(f"--property={prop}" for prop in limits.properties()),
                *argv[at:]]
    return scope_argv(argv, limits) if systemd else argv


def _own_scope(nspawn_argv):
    """Whether nspawn registers the container in a scope of its own (--property only
    applies there; with --keep-unit it stays in the host's unit)."""
    return "--register=yes" in nspawn_argv and "--keep-unit" not in nspawn_argv


CONTAINER_HOME = "/home/agent"


def container_binds(spec):
    """(host path, container path) of an agent's own dirs, for nspawn and nixos alike."""
    binds = [(spec.hive_dir, "/run/hive"), (spec.state_dir, "/state"),
             (spec.claude_dir, "/claude"), (spec.home_dir, CONTAINER_HOME),
             (spec.harness_dir, "/harness")]
    if spec.agents_dir:
        binds.append((spec.agents_dir, "/agents"))
    return binds


def write_private(path, text, owner):
    """Write a 0600 file of `owner`'s, whole or not at all, never through a symlink."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchown(fd, owner, owner)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _code_paths(claude_bin=None):
    """Host dirs the harness needs to run: this hyperhive's code, the Python it runs on,
    and the dir of the claude it starts (when it is named by its path); none inside
    another, none under /usr (the container has the host's)."""
    paths = launch.code_dirs()
    if claude_bin and os.path.isabs(claude_bin):
        paths.add(os.path.dirname(os.path.realpath(claude_bin)))
    paths |= {os.path.realpath(p) for p in paths}     # a venv may be a symlink
    paths = {p for p in paths if not (p + "/").startswith("/usr/") and os.path.isdir(p)}
    return sorted(p for p in paths
                  if not any(p.startswith(other.rstrip("/") + "/") for other in paths))


def nspawn_start_argv(name, rootfs, binds, read_only, agent_argv, userns=None, register=False):
    """systemd-nspawn command line for one agent container (SPEC §8, `h-<name>`).

    With `register`, systemd-machined knows the container as machine `h-<name>`.

    With `userns`, root in the container is uid `userns` on the host, and the
    container's 65536 uids follow it. The agent's dirs are chowned into that range by
    the host beforehand: no id-mapped mounts, no chown by nspawn.
    """
    machine = names.container_name(name)
    argv = ["systemd-nspawn", "--quiet", "--keep-unit",
            "--register=yes" if register else "--register=no",
            f"--machine={machine}", f"--directory={rootfs}", "--volatile=yes",
            "--as-pid2", "--resolv-conf=off", "--timezone=off", "--link-journal=no",
            "--chdir=/state"]
    if userns is not None:
        argv += [f"--private-users={userns}:{isolation.USERNS_SIZE}",
                 "--private-users-ownership=off"]
    argv += [f"--bind={host}:{inside}" for host, inside in binds]
    argv += [f"--bind-ro={host}:{inside}" for host, inside in read_only]
    return argv + ["--", *agent_argv]


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
# Names the per-agent flake gives its own inputs.
_OWN_INPUTS = ("self", "hyperhive", "config")
_INPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")
MAX_INPUTS = 64


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
        self.flake = flake or os.environ.get("HYPERHIVE_FLAKE")
        if not self.flake:
            raise ValueError("the nixos backend builds agents from the hyperhive flake: set "
                             "HYPERHIVE_FLAKE (the NixOS module does) to its path or URL")
        if flake_inputs is None:
            flake_inputs = parse_flake_inputs(os.environ.get("HYPERHIVE_FLAKE_INPUTS"))
        self.flake_inputs = flake_inputs
        self.on_exit = on_exit
        self.build_dir = Path(build_dir)
        self.conf_dir = Path(conf_dir)
        self.journal_dir = journal_dir or journal.host_journal_dir()
        self.containers_root = Path(containers_root)
        self.unit_dir = Path(unit_dir or os.environ.get("HYPERHIVE_NIXOS_UNIT_DIR")
                             or RUNTIME_UNITS)
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


def parse_flake_inputs(text):
    """HYPERHIVE_FLAKE_INPUTS (a JSON object of input name -> flake URL, which the
    NixOS module's `flakeInputs` writes) as a dict; ValueError saying what is wrong."""
    if not text:
        return {}
    try:
        inputs = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"HYPERHIVE_FLAKE_INPUTS is not valid JSON: {exc}") from None
    if not isinstance(inputs, dict) or len(inputs) > MAX_INPUTS:
        raise ValueError(f"HYPERHIVE_FLAKE_INPUTS must be a JSON object of at most "
                         f"{MAX_INPUTS} input names and flake URLs")
    for name, url in inputs.items():
        if not _INPUT_NAME.match(name) or name in _OWN_INPUTS:
            raise ValueError(f"HYPERHIVE_FLAKE_INPUTS: {name[:64]!r} cannot name an input "
                             f"(letters, digits, _ and -; not {', '.join(_OWN_INPUTS)})")
        if not isinstance(url, str) or not 0 < len(url) <= 1000 or \
                any(ord(c) < 0x20 or ord(c) == 0x7f for c in url):
            raise ValueError(f"HYPERHIVE_FLAKE_INPUTS: the URL of {name!r} must be a "
                             "one-line string of at most 1000 characters")
    return inputs


def nix_string(text):
    """`text` as a Nix string literal: nothing in it is interpolated or ends it."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def agent_flake(spec, hyperhive_flake, flake_inputs=None):
    """The flake that builds one agent's container from its applied repo.

    Settings come from agent.json, as with every backend, and win over the same
    `hyperhive.*` options in agent.nix (`hyperhive.lib.agentSettings` turns agent.json's
    keys into options); agent.nix adds the rest of the container's NixOS configuration
    (packages, services). Every input but `self` reaches agent.nix as the module
    argument `flakeInputs`: the operator's `flakeInputs` (MCP servers, tools) are used
    there as `flakeInputs.<name>.packages.${pkgs.system}.default`. Only committed
    config is built.
    """
    module = '(config + "/agent.nix")' if (spec.config_dir / "agent.nix").exists() else "{ }"
    extra = "".join(f"  inputs.{name}.url = {nix_string(url)};\n"
                    for name, url in sorted((flake_inputs or {}).items()))
    return f"""# Written by the hyperhive host for {spec.name}; rewritten at each start.
{{
  inputs.hyperhive.url = {nix_string(hyperhive_flake)};
  inputs.config = {{ url = {nix_string("git+file://" + str(spec.config_dir))}; flake = false; }};
{extra}
  outputs = {{ self, hyperhive, config, ... }}@inputs:
    let
      settings = hyperhive.lib.agentSettings
        (builtins.fromJSON (builtins.readFile (config + "/agent.json")));
    in {{
      nixosConfigurations.{spec.name} = hyperhive.lib.agentSystem {{
        name = {nix_string(spec.name)};
        manager = {"true" if spec.manager else "false"};
        port = {int(spec.web.rsplit(":", 1)[1])};
        modules = [
          {{ _module.args.flakeInputs = builtins.removeAttrs inputs [ "self" ]; }}
          {module}
          ({{ lib, ... }}: {{
            hyperhive = lib.mapAttrs (_: lib.mkOverride 50) settings;
          }})
        ];
      }};
    }};
}}
"""
