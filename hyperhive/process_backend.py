"""The process backend: each agent's harness a plain child process of the host.

The harness runs as the host's user (root when the host is root; it starts claude as
the agent's own uid). An exit nobody asked for reaches `on_exit(name, returncode)`.
With systemd as init, the agent's limits hold through a transient scope.
"""

import logging
import os
import signal
import subprocess

import gevent

from . import isolation, journal, launch
from .agentspec import STOP_GRACE

log = logging.getLogger(__name__)

# Never handed to an agent: they belong to the host's own unit.
_HOST_ONLY = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")
# libpq's settings (PGPASSWORD, PGPASSFILE, PGHOST...): the hive's database is the host's
# alone, and claude inherits its harness's environment.
_HOST_ONLY_PREFIX = "PG"


def _agents_env(environ):
    return {k: v for k, v in environ.items()
            if k not in _HOST_ONLY and not k.startswith(_HOST_ONLY_PREFIX)}


class ProcessBackend:
    name = "process"

    def __init__(self, on_exit, environ=None, journal_dir=None):
        """`environ`: the host's environment, which the harnesses are started with
        (less what is the host's own); `journal_dir`: where the host reads the journal
        (None: the system's)."""
        self.on_exit = on_exit
        self.environ = dict(environ or {})
        self.journal_dir = journal_dir
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
        env = _agents_env(self.environ)
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
                                start_new_session=True, preexec_fn=isolation.die_with_parent)
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
        return journal.check_query({"machine": None, "directory": self.journal_dir,
                                    "matches": journal.agent_matches(name)})

    def journal_uids(self, ids):
        """The host uids an agent's own records come from, as journald stamps them (`_UID`):
        its harness's, and its claude's (claude and the tools it runs). The fields of a
        record are whatever its writer set; `_UID` is journald's own. None: agents share
        the host's uid, and there is nothing to tell them apart by."""
        return None if ids is None else (ids.harness, ids.claude)


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

