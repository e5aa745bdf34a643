"""Container backends: how an agent's harness is started, stopped and watched.

A backend turns an AgentSpec (host paths) into a command, runs it as a child
of the host, and reports an exit it did not ask for through
`on_exit(name, returncode)`. The process backend runs the harness directly;
the nspawn backend runs it inside `systemd-nspawn` with the agent's dirs bound
to the container paths of SPEC §2. nixos-container command lines are built by
a pure function (`nixos_commands`) so they can be checked without the tool.
"""

import ctypes
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import gevent

from . import names

log = logging.getLogger(__name__)

STOP_GRACE = 10


ENTRY = str(Path(__file__).resolve().parent.parent / "hyperhive.py")
# Never handed to an agent: they belong to the host's own unit.
_HOST_ONLY = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")


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
    web: str                    # HOST:PORT of the agent's page
    claude_bin: str
    agents_dir: Path = None     # the manager edits the agents' config repos here
    env: dict = field(default_factory=dict)

    def harness_args(self, hive_dir, state_dir):
        return ["agent", "--name", self.name, *(["--manager"] if self.manager else []),
                "--hive-dir", str(hive_dir), "--state-dir", str(state_dir),
                "--web", self.web, "--claude-bin", self.claude_bin]


class ProcessBackend:
    name = "process"

    def __init__(self, on_exit):
        self.on_exit = on_exit
        self._procs = {}
        self._stopping = set()

    def command(self, spec):
        """The harness as a plain child process, with the agent's own HOME."""
        argv = [sys.executable, ENTRY, *spec.harness_args(spec.hive_dir, spec.state_dir)]
        env = {k: v for k, v in os.environ.items() if k not in _HOST_ONLY}
        env.update(spec.env, HOME=str(spec.home_dir), CLAUDE_CONFIG_DIR=str(spec.claude_dir),
                   HYPERHIVE_AGENT_CONFIG=str(spec.config_dir / "agent.json"),
                   HIVE_LABEL=spec.name)
        if spec.agents_dir:
            env["HYPERHIVE_AGENTS_DIR"] = str(spec.agents_dir)
        return argv, env, spec.state_dir

    def start(self, name, spec):
        if self.running(name):
            return
        argv, env, cwd = self.command(spec)
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
            return
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
        return True

    def running(self, name):
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    def pid(self, name):
        proc = self._procs.get(name)
        return proc.pid if proc else None

    def stop_all(self, grace=STOP_GRACE):
        greenlets = [gevent.spawn(self.stop, n, grace) for n in list(self._procs)]
        gevent.joinall(greenlets)


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


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class NspawnBackend(ProcessBackend):
    """Each harness in a `systemd-nspawn` container `h-<name>` sharing the host network.

    The container's root is a fresh tmpfs with the host's /usr (`--volatile=yes`);
    the agent's dirs are bound to /run/hive, /state and /root/.claude, its applied
    config to /etc/hyperhive, and the code and Python read-only at their own paths.
    """

    name = "nspawn"
    # Settings a harness needs from the host's environment; nothing else crosses.
    PASS_ENV = ("ANTHROPIC_", "CLAUDE_CODE_", "DISABLE_", "HYPERHIVE_LOG", "HYPERHIVE_LOGIN_CMD",
                "HYPERHIVE_RATE_LIMIT_SLEEP", "HYPERHIVE_NOTES_LIMIT", "PATH", "LANG")

    def command(self, spec):
        binds = [(spec.hive_dir, "/run/hive"), (spec.state_dir, "/state"),
                 (spec.claude_dir, "/root/.claude")]
        if spec.agents_dir:
            binds.append((spec.agents_dir, "/agents"))
        read_only = [(spec.config_dir, "/etc/hyperhive")]
        read_only += [(p, p) for p in _code_paths()]
        if os.path.isdir("/run/systemd/journal"):
            binds.append(("/run/systemd/journal", "/run/systemd/journal"))
        env = {k: v for k, v in os.environ.items() if k.startswith(self.PASS_ENV)}
        env.update(spec.env, HOME="/root", CLAUDE_CONFIG_DIR="/root/.claude",
                   HYPERHIVE_AGENT_CONFIG="/etc/hyperhive/agent.json",
                   HIVE_LABEL=spec.name)
        if spec.agents_dir:
            env["HYPERHIVE_AGENTS_DIR"] = "/agents"
        harness = [sys.executable, ENTRY, *spec.harness_args("/run/hive", "/state")]
        argv = nspawn_start_argv(spec.name, "/", binds, read_only, harness, env)
        return argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, spec.state_dir


def _code_paths():
    """Host dirs the harness needs to run: this checkout and the Python it runs on."""
    paths = {str(Path(ENTRY).parent), os.path.realpath(sys.base_prefix), sys.prefix}
    return sorted(p for p in paths if not p.startswith("/usr/") and os.path.isdir(p))


def nspawn_start_argv(name, rootfs, binds, read_only, agent_argv, env):
    """systemd-nspawn command line for one agent container (SPEC §8, `h-<name>`)."""
    machine = names.container_name(name)
    argv = ["systemd-nspawn", "--quiet", "--keep-unit", "--register=no",
            f"--machine={machine}", f"--directory={rootfs}", "--volatile=yes",
            "--as-pid2", "--resolv-conf=off", "--timezone=off", "--link-journal=no",
            "--chdir=/state"]
    argv += [f"--bind={host}:{inside}" for host, inside in binds]
    argv += [f"--bind-ro={host}:{inside}" for host, inside in read_only]
    argv += [f"--setenv={key}={value}" for key, value in sorted(env.items())]
    return argv + ["--", *agent_argv]


def nixos_commands(name, action, flake=None):
    """nixos-container command lines for an action on one agent."""
    machine = names.container_name(name)
    table = {
        "create": [["nixos-container", "create", machine, "--flake", flake]],
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
