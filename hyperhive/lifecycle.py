"""Agent lifecycle on the host: containers and config repos.

It prepares an agent's dirs, boots, stops and removes its container, and watches it
crash. It knows nothing of the broker: it reads and records agents through the
registry it is given, and tells `report` (operations.Operations, or a test's own)
what happened: exits, rollout outcomes, notices. operations.py sequences its steps
with the broker's state; crashwatch.py, ownership.py, keptstate.py, commits.py and
rollout.py hold its parts.
"""

import logging
import os
import shutil

from . import backends, commits, keptstate, names, repos, restarts, safefs
from .backends import AgentSpec
from .crashwatch import CrashWatch
from .errors import Conflict
from .limits import Limits
from .names import MANAGER
from .ownership import Ownership
from .rollout import Rollouts
from .settings import defaults as default_settings
from .timers import Timers

log = logging.getLogger(__name__)


def fnv1a32(text):
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


class Lifecycle:
    def __init__(self, places, registry, configs, report, open_socket, close_socket,
                 backend="process",
                 bind="127.0.0.1", port_base=8000, claude_bin="claude", dashboard_url=None,
                 agent_defaults=None, timers=None, settle=None, settings=None):
        self.places = places
        self.registry = registry          # agents.Agents: names and dir records
        self.configs = configs
        self.report = report
        # The host's listeners for an agent: (name, port) opens its socket and page.
        self.open_sockets = open_socket
        self.close_sockets = close_socket
        self.bind = bind
        self.port_base = port_base
        self.claude_bin = claude_bin
        self.dashboard_url = dashboard_url
        self.agent_defaults = agent_defaults or {}      # a new agent's first agent.json
        self.timers = timers or Timers()
        self.backend = backends.make(backend, self._exited, places.lib,
                                     settings or default_settings())
        self.owners = Ownership(places, registry, self.backend.name)
        self.isolated = self.owners.isolated
        self.crashes = CrashWatch(self.timers.clock)
        self._deployed = {}
        self._started_sha = {}
        self._limits_told = set()
        self.rollouts = Rollouts(self, report, self.timers, settle=settle)

    # -- queries ------------------------------------------------------------

    def config(self, name):
        return self.configs.get(name)

    def state(self, name):
        deployed = self._deployed.get(name)
        started = self._started_sha.get(name)
        return {"running": self.backend.running(name), "failed": self.crashes.failed(name),
                "needs_update": bool(started and deployed and started != deployed),
                "port": self.port(name), "deployed_sha": deployed[:12] if deployed else None,
                "model": self.config(name).get("model"), "rollout": self.rollouts.public(name)}

    def deployed_sha(self, name):
        return self._deployed.get(name)

    def settling(self, name):
        return self.rollouts.settling(name)

    def default_port(self, name):
        if name == MANAGER:
            return self.port_base
        return self.port_base + 100 + fnv1a32(name) % 900

    def port(self, name):
        row = self.registry.dir(name)
        return row["port"] if row else self.default_port(name)

    def check_port(self, name):
        """The port `name` would get; Conflict when another agent already has it."""
        wanted = self.port(name)
        ports = {r["name"]: r["port"] for r in self.registry.dirs()}
        for other in set(ports) | set(self.registry.names()):
            port = ports[other] if other in ports else self.default_port(other)
            if other != name and port == wanted:
                raise Conflict(f"agent {name!r} would serve its page on port {wanted}, which "
                               f"agent {other!r} already uses; choose another name")
        return wanted

    def kept_names(self):
        return keptstate.kept_names(self.registry)

    def kept_info(self, name):
        return keptstate.kept_info(self.places, name)

    def is_draft(self, name):
        row = self.registry.dir(name)
        return bool(row and row["draft"]) and not self.registry.exists(name)

    def draft_names(self):
        return [r["name"] for r in self.registry.dirs()
                if r["draft"] and not self.registry.exists(r["name"])]

    def draft_info(self, name):
        return keptstate.draft_info(self.places, self.registry.dir(name) or {}, name,
                                    self.port(name))

    def is_stopped(self, name):
        row = self.registry.dir(name)
        return bool(row and row["stopped"])

    # -- steps (operations.py puts them in order) -------------------------------

    def prepare(self, name, port, **fields):
        """Record the agent's dirs in the database, then make what is missing of them.

        The agents' tree is writable by the manager, so nothing there is followed:
        a dir the host has no record of was not made by the host and is refused."""
        agent_dir = self.places.agent_dir(name)
        if self.registry.dir(name) is None:
            if os.path.lexists(agent_dir):
                raise Conflict(f"{agent_dir} exists but the host never made it; "
                               "remove it or choose another name")
            self.registry.record_dir(name, port, **fields)
        else:
            self.registry.update_dir(name, port=port, **fields)
        agents = self.places.lib / "agents"
        for sub in ("state", "claude", "home", "harness"):
            safefs.make_dirs(agents, f"{name}/{sub}")
        self.places.hive_dir(name).mkdir(parents=True, exist_ok=True)   # under run/: ours
        home = safefs.open_dir(agents, f"{name}/home")
        try:
            os.symlink(self.places.claude_dir(name), ".claude", dir_fd=home)
        except FileExistsError:
            pass
        finally:
            os.close(home)
        repos.init(self.places.config_repo(name), self.places.applied_repo(name),
                   self.agent_defaults)
        self.configs.forget(name)
        self.own_dirs(name)
        log.info("prepared %s in %s", name, agent_dir, extra={"HIVE_AGENT": name})

    def create_draft(self, name, description=None, by=None):
        """Make the config repos and state dir of a future agent, with no container."""
        names.check_new(name)
        if self.registry.exists(name):
            raise Conflict(f"an agent named {name!r} already exists")
        if self.registry.dir(name):
            raise Conflict(f"there is a draft named {name!r} already; commit to it or "
                           "discard it" if self.is_draft(name) else
                           f"there is kept state named {name!r} already; revive it or "
                           "purge it first")
        port = self.check_port(name)
        self.prepare(name, port, draft=True, description=description, created_by=by)
        self.own_dirs(name)            # the manager seeds its notes until it boots
        return {"name": name, "port": port, "config_repo": str(self.places.config_repo(name)),
                "state_dir": str(self.places.state_dir(name))}

    def own_dirs(self, name):
        self.owners.own_dirs(name, draft=self.is_draft(name), kept=self.kept_names())

    def open_socket(self, name):
        self.open_sockets(name, self.port(name))
        self.owners.give_socket(name)

    def boot(self, name):
        """A new agent's first start: its socket, then its container."""
        self.open_socket(name)
        self.start(name)

    def start(self, name, why=None):
        """Start its container; `why` (the fields of a `started` message), when given, is
        told to the agent unless it is running already (then nothing starts)."""
        self.own_dirs(name)
        self.rollouts.before_start(name)
        self._deployed[name] = repos.head(self.places.applied_repo(name))
        self.configs.forget(name)
        spec = self._agent_spec(name)
        if self._deployed[name]:
            # Before the start: the harness's first report must find its rollout waiting.
            self.rollouts.starting(name, self._deployed[name])
        tell = why and not self.backend.running(name)
        try:
            self.backend.start(name, spec)
        except Exception:
            self.rollouts.forget(name)
            raise
        if tell:
            # Once it started: a start that fails tells nothing, so a retry does not add a
            # second message. The new harness is still booting; its first recv finds it.
            self.report.starting(name, why)
        self._started_sha[name] = self._deployed[name]
        self._tell_unapplied_limits(spec)

    def stop(self, name):
        self.rollouts.forget(name)
        self.backend.stop(name)

    def restart(self, name, why=None):
        self.backend.stop(name)
        self.start(name, why)

    def rebuild(self, name, why=None):
        self.configs.forget(name)
        self.backend.stop(name)
        self.open_socket(name)
        self.start(name, why)

    def set_stopped(self, name, stopped):
        """Whether the operator stopped it (no start at boot); a start clears a failure."""
        self.registry.update_dir(name, stopped=stopped)
        if not stopped:
            self.crashes.clear_failed(name)

    def remove(self, name):
        """Take a destroyed agent's container, sockets and run dir away (not its state)."""
        self.backend.stop(name)
        if hasattr(self.backend, "remove"):
            self.backend.remove(name)     # a container that is more than a process
        self.close_sockets(name)
        shutil.rmtree(self.places.hive_dir(name), ignore_errors=True)
        for cache in (self._deployed, self._started_sha):
            cache.pop(name, None)
        self.configs.forget(name)
        self.crashes.forget(name)
        self.rollouts.forget(name)

    def remove_state(self, name):
        """Delete the dirs of kept state or a draft, then give its uids back."""
        keptstate.remove_dirs(self.places, self.registry, name)
        self.owners.release(name)

    def discard_draft(self, name):
        """One conditional write decides a discard (store.remove_draft); then the dirs go."""
        if not self.registry.forget_draft(name):
            return False
        keptstate.delete_dirs(self.places, name)
        self.owners.release(name)
        return True

    def config_rolled_back(self, name, start, why=None):
        """The applied repo is back on the last deployed commit: run that with a fresh
        crash history, or (a new agent's first config) leave the agent stopped and failed."""
        self.configs.forget(name)
        self.crashes.forget_crashes(name)
        if start:
            self.crashes.clear_failed(name)
            self.start(name, why)
        else:
            self.registry.update_dir(name, stopped=True)
            self.crashes.fail(name)

    def apply_commit(self, approval, refused="cannot apply"):
        return commits.apply(self.places, approval, refused)

    def settling_reply(self, aid, sha):
        """What approve answers: the agent runs on the commit, which rollout.py settles."""
        return {"sha": sha, "tag": f"approved/{aid}", "rollout": "settling",
                "settle_seconds": self.rollouts.settle}

    # -- host start and stop ------------------------------------------------

    def adopt_marker_files(self):
        keptstate.adopt_marker_files(self.places, self.registry, self.default_port)

    def start_all(self, start_one):
        """At host start: every agent's socket, and `start_one(name)` for each that the
        operator did not stop and that is not running already."""
        for name in self.registry.here():
            self.open_socket(name)
            if not self.is_stopped(name) and not self.backend.running(name):
                self.timers.now(start_one, name)

    def stop_all(self):
        self.backend.stop_all()

    # -- internals ------------------------------------------------------------

    def _tell_unapplied_limits(self, spec):
        """The operator hears once per host run that an agent's limits do not hold."""
        note = self.backend.limits_note(spec)
        if note and spec.name not in self._limits_told:
            self._limits_told.add(spec.name)
            self.report.limits_not_applied(spec.name, note)

    def _agent_spec(self, name):
        p = self.places
        env = {"HYPERHIVE_DASHBOARD_URL": self.dashboard_url} if self.dashboard_url else {}
        if self._deployed.get(name):
            # The harness reports it back once it is up: proof of the config it runs.
            env["HYPERHIVE_CONFIG_SHA"] = self._deployed[name]
        return AgentSpec(
            name=name, manager=name == MANAGER, hive_dir=p.hive_dir(name),
            state_dir=p.state_dir(name), claude_dir=p.claude_dir(name),
            home_dir=p.home_dir(name), harness_dir=p.harness_dir(name),
            config_dir=p.applied_repo(name), ids=self.owners.ids(name),
            web=f"{self.bind}:{self.port(name)}", claude_bin=self.claude_bin,
            agents_dir=p.lib / "agents" if name == MANAGER else None, env=env,
            limits=Limits.from_config(self.config(name)))

    def _exited(self, name, rc):
        """The backend saw an agent exit that nobody asked for."""
        log.warning("%s exited unexpectedly (rc %s)", name, rc, extra={"HIVE_AGENT": name})
        if self.rollouts.exited(name, rc):
            self.report.exited(name, rc, restarting=None)   # rolled back instead
            return
        delay = self.crashes.crashed(name)
        self.report.exited(name, rc, restarting=delay is not None)
        if delay is not None:
            why = restarts.after_crash(rc, self.crashes.count(name))
            self.timers.later(delay, self.restart_after_crash, name, why)

    def restart_after_crash(self, name, why=None):
        if (self.registry.exists(name) and not self.backend.running(name)
                and not self.is_stopped(name) and not self.crashes.failed(name)
                and not self.rollouts.ending(name)):
            self.report.restart_logged(name, why)
