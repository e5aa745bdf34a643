"""The nspawn backend: each agent's harness in a `systemd-nspawn` container.

The command lines come from pure functions (`nspawn_start_argv`, `nspawn_limited`);
the container is a child of the host, watched as the process backend watches its
harnesses.
"""

import json
import logging
import os
import subprocess

from . import isolation, launch, names
from .agentspec import CONTAINER_HOME, container_binds
from .process_backend import ProcessBackend, scope_argv

log = logging.getLogger(__name__)


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

    def __init__(self, on_exit, environ=None, journal_dir=None):
        super().__init__(on_exit, environ, journal_dir)
        # Registered containers show in `machinectl list` and can be entered with
        # `machinectl shell`; nspawn refuses to start one it cannot register.
        self.register = machined_available(self.environ)
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
        return argv, {"PATH": self.environ.get("PATH", "/usr/bin:/bin")}, spec.state_dir

    def limits_note(self, spec):
        if spec.limits and _own_scope(self.command(spec)[0]):
            return None
        return super().limits_note(spec)

    def environment(self, spec):
        """What the harness inside finds in /harness/env.json."""
        env = {k: v for k, v in self.environ.items() if k.startswith(self.PASS_ENV)}
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


def machined_available(environ):
    """True if systemd-machined is on the system bus, or D-Bus starts it on demand (as on
    any systemd machine): then nspawn can register containers. Without a bus: False, at once."""
    if not environ.get("DBUS_SYSTEM_BUS_ADDRESS") and not os.path.exists(SYSTEM_BUS):
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
    return [*argv, "--", *agent_argv]

