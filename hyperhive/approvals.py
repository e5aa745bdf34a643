"""The approval queue: spawns and config commits waiting for the operator, their diffs,
the one write that decides each, and what a rollout of an approved config came to.

Carrying an approval out (booting the agent, applying the commit) is the lifecycle's;
operations.py sequences the two.
"""

from . import bounds, checks, names, repos
from .errors import Conflict, NotFound
from .names import MANAGER, OPERATOR


def shown(approval):
    """An approval as pages, `pending` and events carry it: at most DIFF_SHOWN_CHARS of
    its diff, whether that is all of it, and its whole length."""
    if approval.get("diff") is None:
        return {**approval, "diff_truncated": False, "diff_length": 0}
    diff, cut, length = repos.shown_diff(approval["diff"])
    return {**approval, "diff": diff, "diff_stat": (approval["diff_stat"] or "")
            [:repos.DIFF_SHOWN_CHARS], "diff_truncated": cut, "diff_length": length}


def check_diff_read(approval, diff_sha256):
    """A diff too long for the pages is approved only with the sha256 of all of it."""
    diff = approval.get("diff")
    aid = approval["id"]
    if diff_sha256 is not None:
        checks.text(diff_sha256, "diff_sha256", limit=64)
        if diff is None or diff_sha256.strip().lower() != repos.diff_digest(diff):
            raise Conflict(f"diff_sha256 is not the sha256 of approval #{aid}'s diff; read "
                           f"it again with `hyperhive ctl diff {aid}` or at "
                           f"/approvals/{aid}/diff on the dashboard")
        return
    if diff is not None and repos.shown_diff(diff)[1]:
        raise Conflict(f"the diff of approval #{aid} is {len(diff)} characters and pages "
                       f"show only the first {repos.DIFF_SHOWN_CHARS}; read all of it with "
                       f"`hyperhive ctl diff {aid}` (or at /approvals/{aid} on the "
                       "dashboard) and approve with the diff_sha256 it prints")


def check_description(description):
    if description is not None:
        checks.text(description, "description", limit=bounds.MAX_DESCRIPTION, empty_ok=True)


class Approvals:
    def __init__(self, bus, agents, messages):
        self.bus = bus
        self.store = bus.store
        self.agents = agents
        self.messages = messages

    # -- asking ---------------------------------------------------------------

    def request_spawn(self, caller, name, description=None):
        """Queue a plain spawn (no commit). The port check is the caller's: the
        lifecycle knows ports."""
        names.check_new(name)
        check_description(description)
        if self.agents.exists(name):
            raise Conflict(f"an agent named {name!r} already exists")
        self.check_capacity(caller)

        def write():
            aid = self.store.add_spawn_approval(name, self.bus.clock(), description=description)
            if aid is None:
                raise Conflict(f"a spawn of {name!r} is already waiting for approval")
            self.bus.emit("approval_added", id=aid, agent=name, kind="spawn",
                          description=description, requested_by=caller)
            return aid
        return {"name": name, "id": self.bus.write(write)}

    def queue_commit(self, caller, agent, kind, commit_ref, description, proposal):
        """An approval that carries a commit of the agent's proposed repo and its diff
        (a repos.Proposal). A spawn of a draft is queued only if none waits already."""
        _, cut, length = repos.shown_diff(proposal.diff)
        fields = dict(commit_ref=commit_ref, description=description,
                      fetched_sha=proposal.sha, diff=proposal.diff, diff_stat=proposal.stat)

        def write():
            if kind == "spawn":
                aid = self.store.add_spawn_approval(agent, self.bus.clock(), **fields)
                if aid is None:
                    raise Conflict(f"a spawn of {agent!r} is already waiting for approval, "
                                   "or it is no longer a draft")
            else:
                aid = self.store.add_approval(agent, kind, self.bus.clock(), **fields)
            # The event names the diff's size; pages fetch the diff itself with the snapshot.
            self.bus.emit("approval_added", id=aid, agent=agent, kind=kind,
                          description=description, requested_by=caller, sha=proposal.sha,
                          diff_stat=proposal.stat[:repos.DIFF_SHOWN_CHARS],
                          diff_truncated=cut, diff_length=length)
            return aid
        return self.bus.write(write)

    def check_capacity(self, caller):
        """The manager may keep the operator only so busy; the operator's own go on."""
        if caller == OPERATOR:
            return
        waiting = len(self.store.approvals("pending"))
        if waiting >= bounds.MAX_PENDING_APPROVALS:
            raise Conflict(f"{waiting} approvals already wait for the operator, the most "
                           "there may be; wait for them to be decided before asking for more")

    def spawn_waiting(self, name):
        return self.store.spawn_waiting(name)

    # -- reading ------------------------------------------------------------------

    def pending(self):
        return {"approvals": [shown(a) for a in self.store.approvals("pending")]}

    def queue_spans(self, since):
        """When each approval waiting after `since` came and went (the queue's history)."""
        return self.store.approval_spans(since)

    def diff(self, caller, id):
        """The whole diff of an approval and its sha256, which `approve` takes as proof
        that it was read when pages show only part of it."""
        approval = self.store.approval(id) if isinstance(id, int) else None
        if approval is None or approval["diff"] is None:
            raise NotFound(f"there is no approval #{id} with a diff")
        return {"id": approval["id"], "agent": approval["agent"], "kind": approval["kind"],
                "status": approval["status"], "fetched_sha": approval["fetched_sha"],
                "diff_stat": approval["diff_stat"] or "", "diff": approval["diff"],
                "diff_sha256": repos.diff_digest(approval["diff"])}

    def waiting(self, id):
        """A pending approval, or the refusal that says why it cannot be decided."""
        approval = self.store.approval(id) if isinstance(id, int) else None
        if approval is None:
            raise NotFound(f"there is no approval #{id}")
        if approval["status"] != "pending":
            raise Conflict(f"approval #{id} is already {approval['status']}")
        return approval

    # -- deciding -------------------------------------------------------------------

    def decide(self, approval, status, note=None):
        """The one step that decides an approval: whoever loses a race hears it was
        resolved meanwhile, and carries nothing out."""
        def write():
            if not self.store.resolve_approval(approval["id"], self.bus.clock(), status, note):
                current = self.store.approval(approval["id"])
                raise Conflict(f"approval #{approval['id']} is already "
                               f"{current['status'] if current else 'gone'}")
            self.bus.emit("approval_resolved", id=approval["id"], agent=approval["agent"],
                          status=status, note=note)
        self.bus.write(write)

    def failed(self, approval_id, note):
        """An approved approval could not be carried out."""
        self.bus.write(lambda: self._fail(approval_id, note))

    def _fail(self, approval_id, note):
        self.store.set_approval(approval_id, self.bus.clock(), status="failed", note=note)
        self.bus.emit("approval_resolved", id=approval_id, status="failed", note=note)

    def tell_resolved(self, approval, status, note=None, **extra):
        """The manager hears how an approval ended."""
        self.messages.notify(MANAGER, "approval_resolved", id=approval["id"],
                             agent=approval["agent"], kind=approval["kind"],
                             commit_ref=approval["commit_ref"], status=status, note=note,
                             **extra)

    def tagged(self, agent, tag):
        """A tag is in the agent's applied repo now. Its approval's event went out before
        the tag was written (the tag is named by the approval's id), so a page that read
        the repo on that event may have missed it: this one comes after."""
        self.bus.write(lambda: self.bus.emit("config_tagged", agent=agent, tag=tag))

    # -- what a rollout came to ---------------------------------------------------------

    def rollout_deployed(self, approval_id, agent, sha, kind):
        """An approved config stayed up through its settle time: it is deployed."""
        self.bus.write(lambda: self.bus.emit("config_deployed", id=approval_id, agent=agent,
                                             sha=sha, kind=kind))
        self.messages.notify(MANAGER, "config_deployed", id=approval_id, agent=agent,
                             kind=kind, sha=sha, tag=f"deployed/{approval_id}")

    def rollout_failed(self, approval_id, agent, sha, kind, reason, rolled_back_to=None,
                       built_on_it=()):
        """An approved config did not survive its settle time and was rolled back: the
        approval is marked failed, and the manager and the operator hear why. Pending
        approvals `built_on_it` fail too: their diffs do not show its changes."""
        fields = {"id": approval_id, "agent": agent, "kind": kind, "sha": sha,
                  "tag": f"failed/{approval_id}", "reason": reason,
                  "rolled_back_to": rolled_back_to, "also_failed": list(built_on_it)}
        stale = (f"it builds on the config of approval #{approval_id}, which failed and was "
                 "rolled back; propose it again on top of `applied/main`")

        def write():
            self.store.set_approval(approval_id, self.bus.clock(), status="failed",
                                    note=reason)
            self.bus.emit("config_rolled_back", **fields)
            for other in built_on_it:
                self._fail(other, stale)
        self.bus.write(write)
        self.messages.notify(MANAGER, "config_rolled_back", **fields)
        self.messages.notify(OPERATOR, "config_rolled_back", **fields)
