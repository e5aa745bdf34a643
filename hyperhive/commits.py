"""An agent's config commits on their way from its proposed repo to its applied repo:
fetched for an approval, tagged at each step (proposal/, approved/, denied/, failed/),
fast-forwarded when approved, and moved back when what they brought failed."""

import logging

from . import repos
from .errors import BadArgs, Conflict

log = logging.getLogger(__name__)


def propose(places, name, commit_ref):
    """Fetch a proposed commit into the applied repo; a repos.Proposal for the approval.

    The proposed repo is read as its owner's uid, so its config and hooks never
    run with the host's powers."""
    config_repo = places.config_repo(name)
    try:
        return repos.fetch_proposal(config_repo, places.applied_repo(name), commit_ref,
                                    as_user=repos.owner(config_repo))
    except repos.GitError as exc:
        raise BadArgs(str(exc)) from None


def tag_proposal(places, name, approval_id, sha):
    repos.tag(places.applied_repo(name), f"proposal/{approval_id}", sha)


def apply(places, approval, refused="cannot apply"):
    """Tag the approved commit, check its config and fast-forward the applied repo to it;
    the commit it was on. On a refusal the commit is tagged failed and Conflict says why."""
    name, aid, sha = approval["agent"], approval["id"], approval["fetched_sha"]
    applied = places.applied_repo(name)
    repos.tag(applied, f"approved/{aid}", sha)
    try:
        repos.check_config(applied, sha)
    except repos.GitError as exc:
        repos.tag(applied, f"failed/{aid}", sha, message=str(exc))
        raise Conflict(f"{refused}: {exc}") from None
    try:
        return repos.fast_forward(applied, sha)
    except repos.GitError as exc:
        repos.tag(applied, f"failed/{aid}", sha, message=str(exc))
        raise Conflict(f"cannot apply: {exc}") from None


def failed(places, approval, reason, back_to=None):
    """The approved commit did not boot: tag it failed, and move back to `back_to`."""
    applied = places.applied_repo(approval["agent"])
    repos.tag(applied, f"failed/{approval['id']}", approval["fetched_sha"], message=reason)
    if back_to:
        repos.roll_back(applied, back_to)


def denied(places, approval, note):
    applied = places.applied_repo(approval["agent"])
    try:
        repos.tag(applied, f"denied/{approval['id']}", f"proposal/{approval['id']}",
                  message=note or "denied by the operator")
    except repos.GitError as exc:
        log.warning("could not tag the denial: %s", exc)


def built_on(places, name, sha, pending):
    """Of the `pending` approvals of `name`, the ids of those that contain the failed
    commit `sha`: each one's diff was taken against it, so approving it now would bring
    back changes the operator was never shown."""
    applied = places.applied_repo(name)
    return [a["id"] for a in pending
            if a["fetched_sha"] and repos.is_ancestor(applied, sha, a["fetched_sha"])]
