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

from . import isolation, names, repos, safefs
from .backends import AgentIds, AgentSpec, NixosBackend, NspawnBackend, ProcessBackend
from .errors import BadArgs, Conflict, HiveError, NotFound, Unavailable
from .limits import Limits
from .names import MANAGER, OPERATOR
from .rollout import Rollouts

log = logging.getLogger(__name__)

CRASH_WINDOW = 600
CRASH_LIMIT = 5
# Marker files of hives from before the agent_dirs table; read once, then deleted.
OLD_MARKERS = ("port", "stopped", "draft")
MAX_DESCRIPTION = 8192
KEPT_WALK_LIMIT = 20_000    # entries walked for a kept state's size; past it, a lower bound


def fnv1a32(text):
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


class Lifecycle:
    def __init__(self, places, broker, sockets, backend="process", bind="127.0.0.1",
                 port_base=8000, claude_bin="claude", dashboard_url=None, agent_defaults=None):
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
        self.agent_defaults = agent_defaults or {}      # a new agent's first agent.json
        self.backend = backends[backend](self._exited)
        self.isolated = isolation.isolated()
        self._slots = {}
        self._claims = isolation.SlotClaims()
        self._configs = {}
        self._deployed = {}
        self._started_sha = {}
        self._crashes = {}
        self._failed = set()
        self._limits_told = set()
        self.rollouts = Rollouts(self)

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
                "model": self.config(name).get("model"), "rollout": self.rollouts.public(name)}

    def settling(self, name):
        return self.rollouts.settling(name)

    def default_port(self, name):
        if name == MANAGER:
            return self.port_base
        return self.port_base + 100 + fnv1a32(name) % 900

    def port(self, name):
        row = self.broker.agent_dir(name)
        return row["port"] if row else self.default_port(name)

    def check_port(self, name):
        """The port `name` would get; Conflict when another agent already has it."""
        wanted = self.port(name)
        recorded = {r["name"] for r in self.broker.agent_dirs()}
        for other in recorded | set(self.broker.agent_names()):
            if other != name and self.port(other) == wanted:
                raise Conflict(f"agent {name!r} would serve its page on port {wanted}, which "
                               f"agent {other!r} already uses; choose another name")
        return wanted

    def kept_info(self, name):
        """Size and age of kept state: lstat only (nothing opened, no link followed),
        and at most KEPT_WALK_LIMIT entries, so a tree an agent filled cannot stall us."""
        base = self.places.agent_dir(name)
        size, newest, seen = 0, 0.0, 0
        for root, dirs, files in os.walk(base):
            for f in files[:max(0, KEPT_WALK_LIMIT - seen)]:
                try:
                    st = os.lstat(os.path.join(root, f))
                except OSError:
                    continue
                size += st.st_size
                newest = max(newest, st.st_mtime)
            seen += len(files) + len(dirs)
            if seen >= KEPT_WALK_LIMIT:
                break
        creds = self.places.claude_dir(name)
        return {"name": name, "size_bytes": size, "modified_at": newest or None,
                "has_credentials": (creds.is_dir() and not creds.is_symlink()
                                    and any(creds.iterdir()))}

    def kept_names(self):
        """Names whose dirs the host kept after a destroy (neither live nor drafts)."""
        return [r["name"] for r in self.broker.agent_dirs()
                if not r["draft"] and not self.broker.is_agent(r["name"])]

    # -- verbs ---------------------------------------------------------------

    def spawn(self, name):
        names.check_new(name)
        if self.broker.is_agent(name):
            raise Conflict(f"an agent named {name!r} already exists")
        port = self.check_port(name)
        self.broker.set_transient(name, "spawning")
        try:
            # A plain spawn of a draft's name boots the draft as its config stands.
            self._prepare(name, port, draft=False, stopped=False)
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
        self.rollouts.forget(name)
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
            if purge and name in self.kept_names():
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
            self.rollouts.forget(name)
            self._failed.discard(name)
            if purge:
                self._remove_state(name)
        finally:
            self.broker.clear_transient(name)
        self.broker.notify(MANAGER, "destroyed", agent=name, purged=purge)
        return {"name": name, "purged": purge}

    def purge(self, name):
        if name not in self.kept_names():
            raise NotFound(f"there is no kept state for {name!r}")
        self._remove_state(name)
        self.broker.agent_changed(name, purged=True)
        return {"name": name, "purged": True}

    # -- drafts: an agent's dirs and repos before its first boot ---------------

    def is_draft(self, name):
        row = self.broker.agent_dir(name)
        return bool(row and row["draft"]) and not self.broker.is_agent(name)

    def draft_names(self):
        return [r["name"] for r in self.broker.agent_dirs()
                if r["draft"] and not self.broker.is_agent(r["name"])]

    def create_draft(self, name, description=None, by=None):
        """Make the config repos and state dir of a future agent, with no container."""
        names.check_new(name)
        if self.broker.is_agent(name):
            raise Conflict(f"an agent named {name!r} already exists")
        if self.broker.agent_dir(name):
            what = "a draft" if self.is_draft(name) else "kept state"
            raise Conflict(f"there is {what} named {name!r} already; "
                           + ("commit to it or discard it" if what == "a draft"
                              else "revive it or purge it first"))
        port = self.check_port(name)
        self._prepare(name, port, draft=True, description=description, created_by=by)
        self._own_dirs(name)            # the manager seeds its notes until it boots
        return {"name": name, "port": port, "config_repo": str(self.places.config_repo(name)),
                "state_dir": str(self.places.state_dir(name))}

    def draft_info(self, name):
        row = self.broker.agent_dir(name) or {}
        config = self.places.config_repo(name)
        return {"name": name, "description": row.get("description"),
                "created_at": row.get("created_at"), "by": row.get("created_by"),
                "config_sha": (repos.head(config, as_user=repos.owner(config)) or "")[:12]
                or None,
                "port": self.port(name)}

    def discard_draft(self, name):
        if self.broker.is_agent(name):
            raise Conflict(f"{name!r} is a live agent, not a draft; destroy it instead")
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
        try:
            repos.check_config(applied, sha)
            repos.fast_forward(applied, sha)
        except repos.GitError as exc:
            repos.tag(applied, f"failed/{aid}", sha, message=str(exc))
            raise Conflict(f"cannot apply: {exc}") from None
        try:
            self.spawn(name)
        except Exception as exc:
            reason = getattr(exc, "message", None) or str(exc)
            repos.tag(applied, f"failed/{aid}", sha, message=reason)
            if not self.broker.is_agent(name):
                self.broker.update_agent_dir(name, draft=True)   # never booted: still a draft
            raise
        return self._settling(aid, sha)

    # -- config commits ------------------------------------------------------

    def propose_commit(self, name, commit_ref):
        """Fetch a proposed commit into the applied repo; a repos.Proposal for the approval.

        The proposed repo is read as its owner's uid, so its config and hooks never
        run with the host's powers."""
        config_repo = self.places.config_repo(name)
        try:
            return repos.fetch_proposal(config_repo, self.places.applied_repo(name),
                                        commit_ref, as_user=repos.owner(config_repo))
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
            repos.check_config(applied, sha)
        except repos.GitError as exc:
            repos.tag(applied, f"failed/{aid}", sha, message=str(exc))
            raise Conflict(f"the new config was refused: {exc}") from None
        try:
            before = repos.fast_forward(applied, sha)
        except repos.GitError as exc:
            repos.tag(applied, f"failed/{aid}", sha, message=str(exc))
            raise Conflict(f"cannot apply: {exc}") from None
        try:
            self.rebuild(name)
        except Exception as exc:
            reason = getattr(exc, "message", None) or str(exc)
            repos.tag(applied, f"failed/{aid}", sha, message=reason)
            repos.roll_back(applied, before)
            self._configs.pop(name, None)
            self._start_logged(name)
            raise Conflict(f"the new config failed and was rolled back: {reason}") from None
        return self._settling(aid, sha)

    def _settling(self, aid, sha):
        """What approve answers: the agent runs on the commit, which rollout.py settles."""
        return {"sha": sha, "tag": f"approved/{aid}", "rollout": "settling",
                "settle_seconds": self.rollouts.settle}

    def config_rolled_back(self, name, start):
        """The applied repo is back on the last deployed commit: run that with a fresh
        crash history, or (a new agent's first config) leave the agent stopped and failed."""
        self._configs.pop(name, None)
        self._crashes.pop(name, None)
        if start:
            self._failed.discard(name)
            self._start(name)
        else:
            self._mark_stopped(name, True)
            self._failed.add(name)

    def deny_commit(self, approval, note):
        applied = self.places.applied_repo(approval["agent"])
        try:
            repos.tag(applied, f"denied/{approval['id']}", f"proposal/{approval['id']}",
                      message=note or "denied by the operator")
        except repos.GitError as exc:
            log.warning("could not tag the denial: %s", exc)

    # -- host start and stop ------------------------------------------------

    def adopt_marker_files(self):
        """On a hive from before the agent_dirs table (an empty table; the manager always
        has a row once the host has run): take each agent dir's old `port`, `stopped`
        and `draft` files into the database, read through safefs, and delete them."""
        if self.broker.agent_dirs():
            return
        for name in sorted(set(self.places.names_on_disk()) | set(self.broker.agent_names())):
            self._adopt_markers(name)

    def _adopt_markers(self, name):
        agents = self.places.lib / "agents"
        port, stopped, draft = (self._old_marker(agents, name, m) for m in OLD_MARKERS)
        live = self.broker.is_agent(name)
        info = _json_object(draft) if draft is not None and not live else None
        fields = {"stopped": live and stopped is not None, "draft": info is not None}
        if info:
            fields.update(description=_short_text(info.get("description")),
                          created_by=_short_text(info.get("by")))
            if isinstance(info.get("created_at"), (int, float)):
                fields["created_at"] = info["created_at"]
        self.broker.record_agent_dir(name, _port_number(port) or self.default_port(name),
                                     **fields)
        for marker in OLD_MARKERS:
            safefs.remove(agents, f"{name}/{marker}")
        log.info("took %s's marker files into the database", name, extra={"HIVE_AGENT": name})

    @staticmethod
    def _old_marker(agents, name, marker):
        try:
            return safefs.read_text(agents, f"{name}/{marker}", limit=MAX_DESCRIPTION * 2)
        except (OSError, HiveError):
            return None         # a link, a FIFO, a directory: no marker the host wrote

    def ensure_manager(self):
        if not self.broker.is_agent(MANAGER):
            self.spawn(MANAGER)

    def start_all(self):
        for name in self.broker.agent_names():
            self._open_socket(name)
            if not self._is_stopped(name) and not self.backend.running(name):
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

    def _prepare(self, name, port, **fields):
        """Record the agent's dirs in the database, then make what is missing of them.

        The agents' tree is writable by the manager, so nothing there is followed:
        a dir the host has no record of was not made by the host and is refused."""
        agent_dir = self.places.agent_dir(name)
        if self.broker.agent_dir(name) is None:
            if os.path.lexists(agent_dir):
                raise Conflict(f"{agent_dir} exists but the host never made it; "
                               "remove it or choose another name")
            self.broker.record_agent_dir(name, port, **fields)
        else:
            self.broker.update_agent_dir(name, port=port, **fields)
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
            # A slot that another hive on this machine runs now is given up for a free
            # one; the agent's dirs are handed to the new uids when it starts.
            slot = self._slots[name] = self.broker.writer.write(
                lambda: self.broker.store.agent_slot(name, isolation.SLOTS,
                                                     usable=self._claims.claim))
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
        for agent in {name, *self.kept_names()} if name == MANAGER else {name}:
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
        self.rollouts.before_start(name)
        self._deployed[name] = repos.head(self.places.applied_repo(name))
        self._configs.pop(name, None)
        spec = self._agent_spec(name)
        if self._deployed[name]:
            # Before the start: the harness's first report must find its rollout waiting.
            self.rollouts.starting(name, self._deployed[name])
        try:
            self.backend.start(name, spec)
        except Exception:
            self.rollouts.forget(name)
            raise
        self._started_sha[name] = self._deployed[name]
        self._tell_unapplied_limits(spec)

    def _tell_unapplied_limits(self, spec):
        """The operator hears once per host run that an agent's limits do not hold."""
        note = self.backend.limits_note(spec)
        if note and spec.name not in self._limits_told:
            self._limits_told.add(spec.name)
            self.broker.notify(OPERATOR, "limits_not_applied", agent=spec.name, reason=note)

    def _start_logged(self, name):
        try:
            self._start(name)
            self.broker.agent_changed(name, **self.state(name))
        except Exception:
            log.exception("could not start %s", name, extra={"HIVE_AGENT": name})

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
            config_dir=p.applied_repo(name), ids=self.ids(name),
            web=f"{self.bind}:{self.port(name)}", claude_bin=self.claude_bin,
            agents_dir=p.lib / "agents" if name == MANAGER else None, env=env,
            limits=Limits.from_config(self.config(name)))

    def _exited(self, name, rc):
        """The backend saw an agent exit that nobody asked for."""
        log.warning("%s exited unexpectedly (rc %s)", name, rc, extra={"HIVE_AGENT": name})
        self.broker.forget_runtime(name)
        if self.rollouts.exited(name, rc):
            return              # a config that failed its rollout: rolled back instead
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
                and not self._is_stopped(name) and name not in self._failed
                and not self.rollouts.ending(name)):
            self._start_logged(name)

    def _is_stopped(self, name):
        row = self.broker.agent_dir(name)
        return bool(row and row["stopped"])

    def _mark_stopped(self, name, stopped):
        self.broker.update_agent_dir(name, stopped=stopped)

    def _remove_state(self, name):
        """Delete the dirs of a name the database says are kept state or a draft."""
        if name == MANAGER:
            raise BadArgs("the manager's state cannot be purged")
        if self.broker.is_agent(name) or not self.broker.agent_dir(name):
            raise Conflict(f"{name!r} has no kept state or draft to remove")
        # rmtree works through directory descriptors and never follows a link in the
        # tree (shutil.rmtree.avoids_symlink_attacks); a link at the top is left alone.
        shutil.rmtree(self.places.agent_dir(name), ignore_errors=True)
        shutil.rmtree(self.places.applied_repo(name), ignore_errors=True)
        shutil.rmtree(self.places.lib / "nixos" / names.check(name), ignore_errors=True)
        self.broker.forget_agent_dir(name)
        # Its uids go back to the pool only now that no file of theirs is left.
        self.broker.writer.write(lambda: self.broker.store.free_slot(name))
        slot = self._slots.pop(name, None)
        if slot is not None:
            self._claims.release(slot)


def _json_object(text):
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _port_number(text):
    text = (text or "").strip()
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


def _short_text(value):
    return value[:MAX_DESCRIPTION] if isinstance(value, str) else None
