"""Container backends: how an agent's harness is started, stopped and watched.

Every backend offers start/stop/running and reports an exit it did not ask for
through `on_exit(name, returncode)`. The process backend runs the harness as a
child of the host; nspawn and nixos shell out to systemd-nspawn/machinectl and
nixos-container, and their command lines are built by pure functions so they
can be checked without the tools.
"""

import ctypes
import logging
import os
import signal
import subprocess

import gevent

from . import names

log = logging.getLogger(__name__)

STOP_GRACE = 10


class ProcessBackend:
    name = "process"

    def __init__(self, on_exit):
        self.on_exit = on_exit
        self._procs = {}
        self._stopping = set()

    def start(self, name, argv, env, cwd):
        if self.running(name):
            return
        proc = subprocess.Popen(argv, env=env, cwd=str(cwd), stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=die_with_parent)
        self._procs[name] = proc
        gevent.spawn(self._watch, name, proc)
        log.info("started %s (pid %d)", name, proc.pid, extra={"HIVE_AGENT": name})

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


def nspawn_start_argv(name, rootfs, binds, agent_argv, env):
    """systemd-nspawn command line for one agent container (SPEC §8, `h-<name>`)."""
    machine = names.container_name(name)
    argv = ["systemd-nspawn", "--quiet", "--keep-unit", "--register=no",
            f"--machine={machine}", f"--directory={rootfs}", "--as-pid2",
            "--resolv-conf=off", "--timezone=off", "--link-journal=no"]
    for host_path, container_path in binds:
        argv.append(f"--bind={host_path}:{container_path}")
    for key, value in sorted(env.items()):
        argv.append(f"--setenv={key}={value}")
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
