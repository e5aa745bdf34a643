"""Agent lifecycle on the host: spawn, start, stop, restart, rebuild, destroy, crash watch.

The broker delegates here for everything that touches containers, directories
and config repos, and gets told about agents coming and going.
"""

import json
import logging
import os
import shutil
import time

import gevent

from . import isolation, names, repos
from .backends import AgentIds, AgentSpec, NixosBackend, NspawnBackend, ProcessBackend
from .errors import BadArgs, Conflict, NotFound, Unavailable
from .names import MANAGER

log = logging.getLogger(__name__)

CRASH_WINDOW = 600
CRASH_LIMIT = 5


def fnv1a32(text):
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


class Lifecycle:
    def __init__(self, places, broker, sockets, backend="process", bind="127.0.0.1",
                 port_base=8000, claude_bin="claude", dashboard_url=None):
        backends = {"process": ProcessBackend, "nspawn": NspawnBackend,
                    "nixos": lambda on_exit: NixosBackend(
                        on_exit, places.lib / "nixos",
                        conf_dir=os.environ.get("HYPERHIVE_NIXOS_CONF_DIR",
                                                "/etc/nixos-containers"))}
        if backend not in backends:
            raise Unavailable(f"there is no {backend!r} backend; use process, nspawn or nixos")
        self.places = places
        self.broker = broker
        self.sockets = sockets
        self.bind = bind
        self.port_base = port_base
        self.claude_bin = claude_bin
        self.dashboard_url = dashboard_url
        self.backend = backends[backend](self._exited)
        self.isolated = isolation.isolated()
        self._slots = {}
        self._configs = {}
        self._deployed = {}
        self._started_sha = {}
        self._crashes = {}
        self._failed = set()

    # -- queries ------------------------------------------------------------

    def config(self, name):
        if name not in self._configs:
            self._configs[name] = repos.read_config(self.places.applied_repo(name))
        return self._configs[name]

    def state(self, name):
        deployed = self._deployed.get(name)
        started = self._started_sha.get(name)
        return {"running": self.backend.running(name), "failed": name in self._failed,
                "needs_update": bool(started and deployed and started != deployed),
                "port": self.port(name), "deployed_sha": deployed[:12] if deployed else None,
                "model": self.config(name).get("model")}

    def default_port(self, name):
        if name == MANAGER:
            return self.port_base
        return self.port_base + 100 + fnv1a32(name) % 900

    def port(self, name):
        try:
            return int(self.places.port_file(name).read_text().strip())
        except (OSError, ValueError):
            return self.default_port(name)

    def check_port(self, name):
        """The port `name` would get; Conflict when another agent already has it."""
        wanted = self.port(name)
        for other in set(self.places.kept_names()) | set(self.broker.agent_names()):
            if other != name and self.port(other) == wanted:
                raise Conflict(f"agent {name!r} would serve its page on port {wanted}, which "
                               f"agent {other!r} already uses; choose another name")
        return wanted

    def kept_info(self, name):
        base = self.places.agent_dir(name)
        size, newest = 0, 0.0
        for root, _dirs, files in os.walk(base):
            for f in files:
                try:
                    st = os.lstat(os.path.join(root, f))
                except OSError:
                    continue
                size += st.st_size
                newest = max(newest, st.st_mtime)
        creds = self.places.claude_dir(name)
        return {"name": name, "size_bytes": size, "modified_at": newest or None,
                "has_credentials": creds.is_dir() and any(creds.iterdir())}

    # -- verbs ---------------------------------------------------------------

    def spawn(self, name):
        names.check_new(name)
        if self.broker.is_agent(name):
            raise Conflict(f"an agent named {name!r} already exists")
        port = self.check_port(name)
        self.broker.set_transient(name, "spawning")
        try:
            self._prepare(name, port)
            # A plain spawn of a draft's name boots the draft as its config stands.
            self._draft_marker(name).unlink(missing_ok=True)
            self.broker.register_agent(name)
            self._open_socket(name)
            self._start(name)
        finally:
            self.broker.clear_transient(name)
        self.broker.agent_changed(name, **self.state(name))
        if name != MANAGER:
            self.broker.notify(MANAGER, "spawned", agent=name, sha=self._deployed.get(name))
        return {"name": name, "port": port}

    def start(self, name):
        self._mark_stopped(name, False)
        self._failed.discard(name)
        self._crashes.pop(name, None)
        self._step(name, "starting", self._start)
        return {"name": name, "running": True}

    def stop(self, name):
        self._mark_stopped(name, True)
        self._step(name, "stopping", self.backend.stop)
        self.broker.forget_runtime(name)
        self.broker.notify(MANAGER, "stopped", agent=name)
        return {"name": name, "running": False}

    def restart(self, name):
        self._mark_stopped(name, False)
        self._failed.discard(name)

        def restart(n):
            self.backend.stop(n)
            self._start(n)
        self._step(name, "restarting", restart)
        return {"name": name, "running": True}

    def rebuild(self, name):
        self._mark_stopped(name, False)
        self._failed.discard(name)
        self._configs.pop(name, None)

        def rebuild(n):
            self.backend.stop(n)
            self._open_socket(n)
            self._start(n)
        self._step(name, "rebuilding", rebuild)
        self.broker.notify(MANAGER, "rebuilt", agent=name, sha=self._deployed.get(name))
        return {"name": name, "running": True}

    def destroy(self, name, purge=False):
        if not self.broker.is_agent(name):
            if purge and name in self.places.kept_names():
                return self.purge(name)
            raise NotFound(f"there is no agent named {name!r}")
        self.broker.set_transient(name, "destroying")
        try:
            self.backend.stop(name)
            if hasattr(self.backend, "remove"):
                self.backend.remove(name)     # a container that is more than a process
            self.sockets.close(name)
            self.broker.unregister_agent(name)
            shutil.rmtree(self.places.hive_dir(name), ignore_errors=True)
            for cache in (self._configs, self._deployed, self._started_sha, self._crashes):
                cache.pop(name, None)
            self._failed.discard(name)
            if purge:
                self._remove_state(name)
        finally:
            self.broker.clear_transient(name)
        self.broker.notify(MANAGER, "destroyed", agent=name, purged=purge)
        return {"name": name, "purged": purge}

    def purge(self, name):
        if name not in self.places.kept_names():
            raise NotFound(f"there is no kept state for {name!r}")
        self._remove_state(name)
        self.broker.agent_changed(name, purged=True)
        return {"name": name, "purged": True}

    # -- drafts: an agent's dirs and repos before its first boot ---------------

    def is_draft(self, name):
        return self._draft_marker(name).is_file()

    def draft_names(self):
        return [n for n in self.places.kept_names() if self.is_draft(n)]

    def create_draft(self, name, description=None, by=None):
        """Make the config repos and state dir of a future agent, with no container."""
        names.check_new(name)
        if self.broker.is_agent(name):
            raise Conflict(f"an agent named {name!r} already exists")
        if name in self.places.kept_names():
            what = "a draft" if self.is_draft(name) else "kept state"
            raise Conflict(f"there is {what} named {name!r} already; "
                           + ("commit to it or discard it" if what == "a draft"
                              else "revive it or purge it first"))
        port = self.check_port(name)
        self._prepare(name, port)
        info = {"description": description, "created_at": time.time(), "by": by}
        self._draft_marker(name).write_text(json.dumps(info) + "\n")
        self._own_dirs(name)            # the manager seeds its notes until it boots
        return {"name": name, "port": port, "config_repo": str(self.places.config_repo(name)),
                "state_dir": str(self.places.state_dir(name))}

    def draft_info(self, name):
        try:
            info = json.loads(self._draft_marker(name).read_text())
        except (OSError, ValueError):
            info = {}
        return {"name": name, "description": info.get("description"),
                "created_at": info.get("created_at"), "by": info.get("by"),
                "config_sha": (repos.head(self.places.config_repo(name)) or "")[:12] or None,
                "port": self.port(name)}

    def discard_draft(self, name):
        if not self.is_draft(name):
            raise NotFound(f"there is no draft named {name!r}")
        self._remove_state(name)
        return {"name": name, "discarded": True}

    def spawn_draft(self, approval):
        """Apply the approved commit to the draft's applied repo, then boot the agent."""
        name, aid, sha = approval["agent"], approval["id"], approval["fetched_sha"]
        if not self.is_draft(name):
            raise Conflict(f"{name!r} is no longer a draft")
        applied = self.places.applied_repo(name)
        repos.tag(applied, f"approved/{aid}", sha)
        before = repos.head(applied)
        try:
            repos.fast_forward(applied, sha)
            repos.check_config(applied)
        except repos.GitError as exc:
            repos.tag(applied, f"failed/{aid}", sha, message=str(exc))
            repos.roll_back(applied, before)
            raise Conflict(f"cannot apply: {exc}") from None
        marker = self._draft_marker(name)
        info = marker.read_text()
        marker.unlink()
        try:
            self.spawn(name)
        except Exception as exc:
            reason = getattr(exc, "message", None) or str(exc)
            repos.tag(applied, f"failed/{aid}", sha, message=reason)
            if not self.broker.is_agent(name):
                marker.write_text(info)     # it never became an agent: still a draft
            raise
        repos.tag(applied, f"deployed/{aid}", sha)
        return {"sha": sha, "tag": f"deployed/{aid}"}

    def _draft_marker(self, name):
        return self.places.agent_dir(name) / "draft"

    # -- config commits ------------------------------------------------------

    def propose_commit(self, name, commit_ref):
        """Fetch a proposed commit into the applied repo; (sha, diff) for the approval."""
        try:
            return repos.fetch_proposal(self.places.config_repo(name),
                                        self.places.applied_repo(name), commit_ref)
        except repos.GitError as exc:
            raise BadArgs(str(exc)) from None

    def tag_proposal(self, name, approval_id, sha):
        repos.tag(self.places.applied_repo(name), f"proposal/{approval_id}", sha)

    def apply_commit(self, approval):
        """Fast-forward the applied repo and rebuild; on any failure tag it and roll back."""
        name, aid, sha = approval["agent"], approval["id"], approval["fetched_sha"]
        applied = self.places.applied_repo(name)
        repos.tag(applied, f"approved/{aid}", sha)
        try:
            before = repos.fast_forward(applied, sha)
        except repos.GitError as exc:
            repos.tag(applied, f"failed/{aid}", sha, message=str(exc))
            raise Conflict(f"cannot apply: {exc}") from None
        try:
            repos.check_config(applied)
            self.rebuild(name)
        except Exception as exc:
            reason = getattr(exc, "message", None) or str(exc)
            repos.tag(applied, f"failed/{aid}", sha, message=reason)
            repos.roll_back(applied, before)
            self._configs.pop(name, None)
            self._start_logged(name)
            raise Conflict(f"the new config failed and was rolled back: {reason}") from None
        repos.tag(applied, f"deployed/{aid}", sha)
        return {"sha": sha, "tag": f"deployed/{aid}"}

    def deny_commit(self, approval, note):
        applied = self.places.applied_repo(approval["agent"])
        try:
            repos.tag(applied, f"denied/{approval['id']}", f"proposal/{approval['id']}",
                      message=note or "denied by the operator")
        except repos.GitError as exc:
            log.warning("could not tag the denial: %s", exc)

    # -- host start and stop ------------------------------------------------

    def ensure_manager(self):
        if not self.broker.is_agent(MANAGER):
            self.spawn(MANAGER)

    def start_all(self):
        for name in self.broker.agent_names():
            self._open_socket(name)
            if not self._stopped_marker(name).exists() and not self.backend.running(name):
                gevent.spawn(self._start_logged, name)

    def stop_all(self):
        self.backend.stop_all()

    # -- internals ------------------------------------------------------------

    def _step(self, name, step, action):
        self.broker.set_transient(name, step)
        try:
            action(name)
        finally:
            self.broker.clear_transient(name)
        self.broker.agent_changed(name, **self.state(name))

    def _prepare(self, name, port):
        agent_dir = self.places.agent_dir(name)
        for d in (self.places.state_dir(name), self.places.claude_dir(name),
                  self.places.home_dir(name), self.places.harness_dir(name),
                  self.places.hive_dir(name)):
            d.mkdir(parents=True, exist_ok=True)
        link = self.places.home_dir(name) / ".claude"
        if not link.exists() and not link.is_symlink():
            link.symlink_to(self.places.claude_dir(name))
        self.places.port_file(name).write_text(f"{port}\n")
        repos.init(self.places.config_repo(name), self.places.applied_repo(name))
        self._configs.pop(name, None)
        self._own_dirs(name)
        log.info("prepared %s in %s", name, agent_dir, extra={"HIVE_AGENT": name})

    # -- who owns what (SPEC §12) ---------------------------------------------

    def ids(self, name):
        """The host uids of an agent's harness and claude; None when agents share ours."""
        if not self.isolated:
            return None
        slot = self._slots.get(name)
        if slot is None:
            slot = self._slots[name] = self.broker.writer.write(
                lambda: self.broker.store.agent_slot(name, isolation.SLOTS))
        if slot is None:
            self._slots.pop(name)
            raise Unavailable(f"this host has given out all {isolation.SLOTS} agent uids; "
                              "purge kept state it no longer needs")
        if self.backend.name == "process":
            return AgentIds(harness=0, claude=isolation.agent_uid(slot))
        base = isolation.userns_base(slot)
        return AgentIds(harness=base, claude=base + isolation.CONTAINER_CLAUDE_UID,
                        userns=base)

    def _own_dirs(self, name):
        """Give an agent's dirs to its uids: its own three to claude, the rest to root.

        The manager's claude owns every agent's proposed config repo: it edits them.
        A draft's state dir is the manager's too, for the starting notes it puts
        there; the first boot hands it, and all in it, to the agent.
        """
        p = self.places
        ids = self.ids(name)
        if ids is None:
            return
        manager = self.ids(MANAGER).claude
        os.chmod(p.agent_dir(name), 0o711)
        p.harness_dir(name).mkdir(exist_ok=True)     # agents older than the harness dir
        state_owner = manager if self.is_draft(name) else ids.claude
        isolation.give(p.state_dir(name), state_owner, state_owner, 0o700)
        for d in (p.claude_dir(name), p.home_dir(name)):
            isolation.give(d, ids.claude, ids.claude, 0o700)
        isolation.give(p.harness_dir(name), ids.harness, ids.harness, 0o700)
        isolation.give(p.hive_dir(name), ids.harness, ids.claude, 0o750)
        for agent in {name, *self.places.kept_names()} if name == MANAGER else {name}:
            if p.config_repo(agent).is_dir():
                isolation.give(p.config_repo(agent), manager, manager, 0o700)

    def _open_socket(self, name):
        """The agent's broker.sock: only its harness may connect (0600, its uid)."""
        self.sockets.open(name)
        ids = self.ids(name)
        if ids is not None and ids.harness != 0:
            os.chown(self.places.broker_sock(name), ids.harness, ids.harness)

    def _start(self, name):
        self._own_dirs(name)
        self._deployed[name] = repos.head(self.places.applied_repo(name))
        self._configs.pop(name, None)
        self.backend.start(name, self._agent_spec(name))
        self._started_sha[name] = self._deployed[name]

    def _start_logged(self, name):
        try:
            self._start(name)
            self.broker.agent_changed(name, **self.state(name))
        except Exception:
            log.exception("could not start %s", name, extra={"HIVE_AGENT": name})

    def _agent_spec(self, name):
        p = self.places
        env = {"HYPERHIVE_DASHBOARD_URL": self.dashboard_url} if self.dashboard_url else {}
        return AgentSpec(
            name=name, manager=name == MANAGER, hive_dir=p.hive_dir(name),
            state_dir=p.state_dir(name), claude_dir=p.claude_dir(name),
            home_dir=p.home_dir(name), harness_dir=p.harness_dir(name),
            config_dir=p.applied_repo(name), ids=self.ids(name),
            web=f"{self.bind}:{self.port(name)}", claude_bin=self.claude_bin,
            agents_dir=p.lib / "agents" if name == MANAGER else None, env=env)

    def _exited(self, name, rc):
        """The backend saw an agent exit that nobody asked for."""
        log.warning("%s exited unexpectedly (rc %s)", name, rc, extra={"HIVE_AGENT": name})
        self.broker.forget_runtime(name)
        now = time.time()
        crashes = [t for t in self._crashes.get(name, []) if now - t < CRASH_WINDOW] + [now]
        self._crashes[name] = crashes
        gave_up = len(crashes) > CRASH_LIMIT
        if gave_up:
            self._failed.add(name)
        self.broker.agent_changed(name, **self.state(name))
        self.broker.notify(MANAGER, "container_crash", agent=name, rc=rc,
                           restarting=not gave_up)
        if not gave_up:
            delay = 2 ** (len(crashes) - 1)
            gevent.spawn_later(delay, self._restart_after_crash, name)

    def _restart_after_crash(self, name):
        if (self.broker.is_agent(name) and not self.backend.running(name)
                and not self._stopped_marker(name).exists() and name not in self._failed):
            self._start_logged(name)

    def _stopped_marker(self, name):
        return self.places.agent_dir(name) / "stopped"

    def _mark_stopped(self, name, stopped):
        marker = self._stopped_marker(name)
        if stopped:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)

    def _remove_state(self, name):
        if name == MANAGER:
            raise BadArgs("the manager's state cannot be purged")
        shutil.rmtree(self.places.agent_dir(name), ignore_errors=True)
        shutil.rmtree(self.places.applied_repo(name), ignore_errors=True)
        shutil.rmtree(self.places.lib / "nixos" / names.check(name), ignore_errors=True)
        # Its uids go back to the pool only now that no file of theirs is left.
        self.broker.writer.write(lambda: self.broker.store.free_slot(name))
        self._slots.pop(name, None)
