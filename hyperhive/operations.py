"""Lifecycle operations: the one place that puts a lifecycle step between the broker's
state and what everyone hears of it.

Each verb runs: checks → transient state (pages show "starting"...) → the lifecycle
step → the `agent_changed` event with the agent's new state → a system message to
the manager. The lifecycle reports back here (it is built here, with this object as
its `report`): unasked exits, rollout outcomes, notices for the operator.
"""

import logging

from . import commits, names, restarts
from .approvals import check_description, check_diff_read
from .bounds import MAX_DRAFTS
from .errors import BadArgs, Conflict, Forbidden, NotFound, Unavailable
from .names import MANAGER, OPERATOR
from .restarts import by_hand

log = logging.getLogger(__name__)


def reason_of(exc):
    return getattr(exc, "message", None) or str(exc)


class Operations:
    def __init__(self, broker, make_lifecycle):
        self.agents = broker.agents
        self.messages = broker.messages
        self.approvals = broker.approvals
        self.store = broker.bus.store
        self.rollout_deployed = self.approvals.rollout_deployed     # for the lifecycle
        self.lifecycle = make_lifecycle(registry=broker.agents, configs=broker.configs,
                                        report=self)

    # -- the sequence ------------------------------------------------------------

    def step(self, name, label, action, *args):
        """transient → action(name, *args) → agent_changed with the state it left."""
        if not self.agents.is_here(name):
            raise Conflict(f"{name!r} runs on host {self.agents.home(name)!r}: its lifecycle "
                           "is that host's; use its dashboard or `hyperhive ctl` there")
        self.agents.set_transient(name, label)
        try:
            action(name, *args)
        finally:
            self.agents.clear_transient(name)
        self.changed(name, **self.lifecycle.state(name))

    def _tell(self, event, **fields):
        self.messages.notify(MANAGER, event, **fields)

    # -- verbs -------------------------------------------------------------------

    def spawn(self, caller, name, host=None):
        """`host` names another host of a hive of several (routing.py); a lone host has
        only itself."""
        if host is not None:
            raise BadArgs("this host runs alone (no --broker): it spawns only here; "
                          "leave `host` out")
        names.check_new(name)
        if self.agents.exists(name):
            raise Conflict(f"an agent named {name!r} already exists")
        life = self.lifecycle
        port = life.check_port(name)

        def spawn(name):
            # A plain spawn of a draft's name boots the draft as its config stands.
            life.prepare(name, port, draft=False, stopped=False)
            self.agents.register(name)
            life.boot(name)
        self.step(name, "spawning", spawn)
        if name != MANAGER:
            self._tell("spawned", agent=name, sha=life.deployed_sha(name))
        return {"name": name, "port": port}

    def start(self, caller, name):
        self.agents.need(name)
        self.lifecycle.set_stopped(name, False)
        self.lifecycle.crashes.forget_crashes(name)
        self.step(name, "starting", self.lifecycle.start, by_hand(caller, "start"))
        return {"name": name, "running": True}

    def stop(self, caller, name):
        self.agents.need(name)
        self.lifecycle.set_stopped(name, True)
        self.step(name, "stopping", self.lifecycle.stop)
        self.agents.forget_runtime(name)
        self._tell("stopped", agent=name)
        return {"name": name, "running": False}

    def restart(self, caller, name):
        self.agents.need(name)
        self.lifecycle.set_stopped(name, False)
        self.step(name, "restarting", self.lifecycle.restart, by_hand(caller, "restart"))
        return {"name": name, "running": True}

    def rebuild(self, caller, name):
        self.agents.need(name)
        self._rebuild(name, by_hand(caller, "rebuild"))
        return {"name": name, "running": True}

    def _rebuild(self, name, why):
        self.lifecycle.set_stopped(name, False)
        self.step(name, "rebuilding", self.lifecycle.rebuild, why)
        self._tell("rebuilt", agent=name, sha=self.lifecycle.deployed_sha(name))

    def destroy(self, caller, name, purge=False):
        if name == MANAGER:
            raise Forbidden("the manager cannot be destroyed")
        names.check(name)
        purge = bool(purge)
        if not self.agents.exists(name):
            if purge and name in self.lifecycle.kept_names():
                return self.purge(caller, name)
            raise NotFound(f"there is no agent named {name!r}")
        life = self.lifecycle

        def destroy(name):
            life.remove(name)
            self.agents.unregister(name)
            if purge:
                life.remove_state(name)
        self.agents.set_transient(name, "destroying")
        try:
            destroy(name)
        finally:
            self.agents.clear_transient(name)
        self._tell("destroyed", agent=name, purged=purge)
        return {"name": name, "purged": purge}

    def purge(self, caller, name):
        names.check(name)
        if self.agents.exists(name):
            raise Conflict(f"{name!r} is a live agent; destroy it with purge instead")
        if name not in self.lifecycle.kept_names():
            raise NotFound(f"there is no kept state for {name!r}")
        self.lifecycle.remove_state(name)
        self.changed(name, purged=True)
        return {"name": name, "purged": True}

    # -- approvals: asking ----------------------------------------------------------

    def request_spawn(self, caller, name, description=None):
        names.check_new(name)
        if not self.agents.exists(name):
            self.lifecycle.check_port(name)
        return self.approvals.request_spawn(caller, name, description)

    def request_apply_commit(self, caller, agent, commit_ref, description=None):
        self.agents.need(agent)
        check_description(description)
        return self._queue_commit(caller, agent, "apply_commit", commit_ref, description)

    def _queue_commit(self, caller, agent, kind, commit_ref, description):
        self.approvals.check_capacity(caller)
        proposal = commits.propose(self.lifecycle.places, agent, commit_ref)
        aid = self.approvals.queue_commit(caller, agent, kind, commit_ref, description,
                                          proposal)
        commits.tag_proposal(self.lifecycle.places, agent, aid, proposal.sha)
        self.approvals.tagged(agent, f"proposal/{aid}")
        return {"id": aid, "sha": proposal.sha}

    # -- drafts (a two-step spawn) ------------------------------------------------------

    def request_spawn_draft(self, caller, name, description=None):
        """Create a future agent's repos and state dir, no container, no approval yet."""
        check_description(description)
        life = self.lifecycle
        drafts = len(life.draft_names())
        if caller != OPERATOR and drafts >= MAX_DRAFTS:
            raise Conflict(f"{drafts} drafts are waiting already, the most there may be; "
                           "commit or discard one before starting another")
        result = life.create_draft(name, description or None, by=caller)
        self.agents.bus.write(lambda: self.agents.bus.emit(
            "draft_added", name=name, description=description, by=caller))
        return result

    def request_spawn_commit(self, caller, name, commit_ref, description=None):
        """Ask the operator to boot a draft from one commit of its proposed repo."""
        names.check(name)
        if not self.lifecycle.is_draft(name):
            raise NotFound(f"there is no draft named {name!r}; create one with "
                           "request_spawn_draft first")
        check_description(description)
        if self.approvals.spawn_waiting(name):
            raise Conflict(f"a spawn of {name!r} is already waiting for approval")
        return {"name": name, **self._queue_commit(caller, name, "spawn", commit_ref,
                                                   description)}

    def drafts(self):
        life = self.lifecycle
        return {"drafts": [life.draft_info(n) for n in life.draft_names()]}

    def discard_draft(self, caller, name):
        names.check(name)
        if self.agents.exists(name):
            raise Conflict(f"{name!r} is a live agent, not a draft; destroy it instead")
        if not self.lifecycle.is_draft(name):
            raise NotFound(f"there is no draft named {name!r}")
        if not self.lifecycle.discard_draft(name):
            raise Conflict(f"the draft {name!r} is waiting for approval; deny it first")
        self.agents.bus.write(lambda: self.agents.bus.emit("draft_removed", name=name))
        if caller != MANAGER:
            self._tell("draft_discarded", agent=name)
        return {"name": name, "discarded": True}

    # -- approvals: deciding -----------------------------------------------------------

    def approve(self, caller, id, diff_sha256=None):
        approval = self.approvals.waiting(id)
        check_diff_read(approval, diff_sha256)
        if approval["kind"] == "apply_commit" and self.lifecycle.settling(approval["agent"]):
            raise Conflict(f"{approval['agent']} is still settling on its last approved "
                           f"config; approve #{approval['id']} once that is deployed or "
                           "rolled back")
        self.approvals.decide(approval, "approved")
        status, note, extra = "approved", None, {}
        try:
            extra = self._carry_out(approval)
        except Exception as exc:
            status, note = "failed", reason_of(exc)
            self.approvals.failed(approval["id"], note)
        self.approvals.tell_resolved(approval, status, note, **extra)
        if status == "failed":
            raise Conflict(f"approval #{approval['id']} failed: {note}")
        return {"id": approval["id"], "status": status,
                **({"rollout": extra["rollout"]} if "rollout" in extra else {})}

    def _carry_out(self, approval):
        if approval["kind"] == "spawn" and approval["fetched_sha"]:
            return self._spawn_draft(approval)
        if approval["kind"] == "spawn":
            self.spawn(OPERATOR, approval["agent"])
            return {}
        if approval["kind"] == "apply_commit":
            return self._apply_commit(approval)
        raise Unavailable(f"approvals of kind {approval['kind']!r} cannot be applied")

    def _spawn_draft(self, approval):
        """Apply the approved commit to the draft's applied repo, then boot the agent."""
        name, life = approval["agent"], self.lifecycle
        if not life.is_draft(name):
            raise Conflict(f"{name!r} is no longer a draft")
        life.apply_commit(approval)
        try:
            self.spawn(OPERATOR, name)
        except Exception as exc:
            commits.failed(life.places, approval, reason_of(exc))
            if not self.agents.exists(name):
                self.agents.update_dir(name, draft=True)     # never booted: still a draft
            raise
        self.agents.bus.write(lambda: self.agents.bus.emit("draft_removed", name=name))
        return life.settling_reply(approval["id"], approval["fetched_sha"])

    def _apply_commit(self, approval):
        """Fast-forward the applied repo and rebuild; on any failure tag it and roll back."""
        name, life = approval["agent"], self.lifecycle
        before = life.apply_commit(approval, refused="the new config was refused")
        try:
            self._rebuild(name, restarts.new_config(approval["id"], approval["fetched_sha"]))
        except Exception as exc:
            reason = reason_of(exc)
            commits.failed(life.places, approval, reason, back_to=before)
            life.configs.forget(name)
            self.restart_logged(name, restarts.rolled_back(approval["id"], before))
            raise Conflict(f"the new config failed and was rolled back: {reason}") from None
        return life.settling_reply(approval["id"], approval["fetched_sha"])

    def deny(self, caller, id, note=None):
        if note is not None:
            check_description(note)
        approval = self.approvals.waiting(id)
        self.approvals.decide(approval, "denied", note or None)
        if approval["fetched_sha"]:
            commits.denied(self.lifecycle.places, approval, note)
            self.approvals.tagged(approval["agent"], f"denied/{approval['id']}")
        self.approvals.tell_resolved(approval, "denied", note or None)
        return {"id": approval["id"], "status": "denied"}

    # -- what the lifecycle reports ------------------------------------------------------

    def changed(self, name, **fields):
        self.agents.changed(name, **fields)

    def exited(self, name, rc, restarting):
        """An unasked exit; `restarting` None: its rollout failed and is rolled back."""
        self.agents.forget_runtime(name)
        if restarting is None:
            return
        self.changed(name, **self.lifecycle.state(name))
        self._tell("container_crash", agent=name, rc=rc, restarting=restarting)

    def restart_logged(self, name, why=None):
        """Start it and say so; a failure is only logged (after a back-off, say)."""
        try:
            self.lifecycle.start(name, why)
            self.changed(name, **self.lifecycle.state(name))
        except Exception:
            log.exception("could not start %s", name, extra={"HIVE_AGENT": name})

    def starting(self, name, why):      # restarts.py has the reasons
        self.messages.notify(name, restarts.STARTED, agent=name, **why)

    def limits_not_applied(self, name, reason):
        self.messages.notify(OPERATOR, "limits_not_applied", agent=name, reason=reason)

    def approval_kind(self, approval_id):
        return (self.store.approval(approval_id) or {}).get("kind")

    def rollout_failed(self, approval_id, name, sha, kind, reason, rolled_back_to=None):
        built_on_it = commits.built_on(self.lifecycle.places, name, sha,
                                       self.store.approvals("pending", agent=name))
        self.approvals.rollout_failed(approval_id, name, sha, kind, reason,
                                      rolled_back_to=rolled_back_to, built_on_it=built_on_it)
        self.changed(name, rollout=None, **self.lifecycle.state(name))

    # -- the host's start and stop ----------------------------------------------------------

    def start_host(self):
        life = self.lifecycle
        life.adopt_marker_files()
        if not self.agents.exists(MANAGER):
            self.spawn(OPERATOR, MANAGER)
        life.start_all(lambda name: self.restart_logged(name, restarts.with_host()))


class Unhosted:
    """What a broker with no container backend answers to a lifecycle verb."""

    def __getattr__(self, name):
        def refuse(*args, **kwargs):
            raise Unavailable("this host has no container backend")
        return refuse
