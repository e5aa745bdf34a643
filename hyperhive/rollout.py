"""Config rollouts: an approved config counts as deployed only once the agent runs on it.

Approving a config commit applies it and restarts the agent; the rollout then
*settles*. The harness must report that it is up (online, or waiting for the
operator's login) on exactly that commit: the host starts it with the sha in
HYPERHIVE_CONFIG_SHA and the harness sends it back with its status. Then the
harness must stay up for the settle time. Only then is the commit tagged
`deployed/<id>`.

A rollout fails when the harness exits inside the settle time, refuses the
config at boot, exits BOOT_TRIES times before it is up, or is not up within
READY_TIMEOUT. The commit is then tagged `failed/<id>` with the reason, the
applied repo goes back to the last deployed commit, the agent runs on that
again (with a fresh crash history: it gets the normal crash handling), and the
manager and the operator are told. A draft's first config that fails leaves
the new agent stopped and marked failed, on the initial defaults, rather than
running it on a config nobody approved for it.

What is settling is read from the applied repo's tags (HEAD tagged
`approved/<id>` and not deployed or failed), so every start of such an agent
settles it: after a host restart, after a stop and start, after a rebuild.
"""

import logging
from dataclasses import dataclass, field

from . import commits, repos, settings
from .restarts import rolled_back

log = logging.getLogger(__name__)

DEFAULT_SETTLE = settings.BY_NAME["settle_seconds"].default
BOOT_TRIES = 3            # exits before the harness is up that fail a rollout
READY_TIMEOUT = 300       # seconds from a start for the harness to come up
# The harness statuses that mean it booted on its config; a login is the operator's matter.
READY_STATUSES = ("online", "needs_login_idle", "needs_login_in_progress")


@dataclass
class Rollout:
    agent: str
    approval_id: int
    sha: str
    previous: str            # the last deployed commit: what a failure goes back to
    kind: str                # the approval's kind: apply_commit, or spawn for a draft
    first_started_at: float = None
    started_at: float = 0.0
    starts: int = 0          # bumped on each start; a timer from an older one does nothing
    ready_at: float = None
    exits: list = field(default_factory=list)    # exit codes before the harness was up
    refusal: str = None      # why the harness refused the config, in its own words
    ending: bool = False

    def public(self, settle):
        return {"state": "settling", "id": self.approval_id, "sha": self.sha[:12],
                "since": self.started_at, "ready_at": self.ready_at,
                "until": self.ready_at + settle if self.ready_at else None}


class Rollouts:
    """The lifecycle's settling configs. Outcomes go to `report` (rollout_deployed,
    rollout_failed, changed, step); `timers` gives the clock and the settle timers."""

    def __init__(self, lifecycle, report, timers, settle=None):
        self.life = lifecycle
        self.report = report
        self.timers = timers
        # Seconds a new config must stay up to count as deployed.
        self.settle = DEFAULT_SETTLE if settle is None else settle
        self._active = {}

    def public(self, name):
        rollout = self._active.get(name)
        return rollout.public(self.settle) if rollout else None

    def settling(self, name):
        return name in self._active

    def ending(self, name):
        rollout = self._active.get(name)
        return bool(rollout and rollout.ending)

    def forget(self, name):
        """A stop or destroy: the tags keep the rollout open for the next start."""
        self._active.pop(name, None)

    # -- what the lifecycle tells us ------------------------------------------------

    def before_start(self, name):
        """Finish a rollback a host stop cut short (HEAD tagged failed but not moved back)."""
        applied = self.life.places.applied_repo(name)
        open_rollout = repos.unsettled(applied)
        if not open_rollout or not open_rollout[1]:
            return
        previous = repos.last_deployed(applied)
        if previous:
            log.warning("%s: finishing the rollback of approval #%s", name, open_rollout[0],
                        extra={"HIVE_AGENT": name})
            repos.roll_back(applied, previous)

    def starting(self, name, sha):
        """The agent is being started on `sha`: settle it if that commit is not deployed."""
        applied = self.life.places.applied_repo(name)
        open_rollout = repos.unsettled(applied)
        if not open_rollout or open_rollout[1]:
            self._active.pop(name, None)
            return
        aid = open_rollout[0]
        rollout = self._active.get(name)
        if rollout is None or rollout.approval_id != aid or rollout.sha != sha:
            rollout = self._active[name] = Rollout(
                agent=name, approval_id=aid, sha=sha, previous=repos.last_deployed(applied),
                kind=self.report.approval_kind(aid) or "apply_commit")
            log.info("%s: settling approval #%s (%s)", name, aid, sha[:12],
                     extra={"HIVE_AGENT": name})
        rollout.starts += 1
        rollout.started_at = self.timers.clock()
        rollout.first_started_at = rollout.first_started_at or rollout.started_at
        rollout.ready_at = None
        self.timers.later(READY_TIMEOUT, self._check_up, rollout, rollout.starts)

    def reported(self, name, fields):
        """A report from the agent's harness; only one about this very commit counts."""
        rollout = self._active.get(name)
        # No config_sha at all: a harness its backend could not tell its commit (nixos
        # builds the container from the repo instead); its report counts after a start.
        if rollout is None or rollout.ending or fields.get("config_sha") not in (rollout.sha,
                                                                                 None):
            return
        if fields.get("config_error"):
            rollout.refusal = fields["config_error"]
        if fields.get("status") in READY_STATUSES and rollout.ready_at is None:
            rollout.ready_at = self.timers.clock()
            self.timers.later(self.settle, self._check_settled, rollout, rollout.starts)
            self.report.changed(name, rollout=rollout.public(self.settle))

    def exited(self, name, rc):
        """The harness exited unasked; True when that ends the rollout (a rollback follows
        and the usual crash handling is skipped)."""
        rollout = self._active.get(name)
        if rollout is None or rollout.ending:
            return False
        if rollout.ready_at is not None:
            up = self.timers.clock() - rollout.ready_at
            reason = (f"the harness exited (code {rc}) {up:.0f} s after it came up on this "
                      f"config, inside the {self.settle:g} s settle time")
        elif rollout.refusal:
            reason = f"the harness refused this config (exit code {rc}): {rollout.refusal}"
        else:
            rollout.exits.append(rc)
            if len(rollout.exits) < BOOT_TRIES:
                return False
            span = self.timers.clock() - rollout.first_started_at
            codes = ", ".join(str(c) for c in rollout.exits)
            reason = (f"the harness exited {len(rollout.exits)} times within {span:.0f} s of "
                      f"starting on this config without coming up (exit codes {codes})")
        self._fail(rollout, reason)
        return True

    # -- outcomes -----------------------------------------------------------------

    def _check_up(self, rollout, starts):
        if self._current(rollout, starts) and rollout.ready_at is None:
            self._fail(rollout, f"the harness did not come up on this config within "
                                f"{READY_TIMEOUT} s of starting")

    def _check_settled(self, rollout, starts):
        if not self._current(rollout, starts) or rollout.ready_at is None:
            return
        name, aid = rollout.agent, rollout.approval_id
        del self._active[name]
        try:
            repos.tag(self.life.places.applied_repo(name), f"deployed/{aid}", rollout.sha)
        except repos.GitError:
            log.exception("could not tag deployed/%s", aid, extra={"HIVE_AGENT": name})
        log.info("%s: approval #%s deployed", name, aid, extra={"HIVE_AGENT": name})
        self.report.rollout_deployed(aid, name, rollout.sha, rollout.kind)
        self.report.changed(name, rollout=None)

    def _current(self, rollout, starts):
        return (self._active.get(rollout.agent) is rollout and not rollout.ending
                and rollout.starts == starts)

    def _fail(self, rollout, reason):
        rollout.ending = True
        self.timers.now(self._roll_back, rollout, reason)

    def _roll_back(self, rollout, reason):
        name, aid = rollout.agent, rollout.approval_id
        log.warning("%s: approval #%s failed: %s", name, aid, reason,
                    extra={"HIVE_AGENT": name})

        def roll_back(name):
            try:
                self.life.backend.stop(name)      # still up when it never came up in time
                commits.failed(self.life.places, {"agent": name, "id": aid,
                                                  "fetched_sha": rollout.sha},
                               reason, back_to=rollout.previous)
                self._active.pop(name, None)
                self.life.config_rolled_back(name, start=rollout.kind != "spawn",
                                             why=rolled_back(aid, rollout.previous))
            except Exception:
                log.exception("the rollback of approval #%s failed", aid,
                              extra={"HIVE_AGENT": name})
        self.report.step(name, "rolling back", roll_back)
        self.report.rollout_failed(aid, name, rollout.sha, rollout.kind, reason,
                                   rolled_back_to=rollout.previous)
