"""Why an agent's harness (re)starts: the fields of the `started` system message the
host posts the agent once each start but its first (spawn) succeeded, so that a turn cut off
by the stop is no mystery to it. formats.started_line reads them back as one line."""

STARTED = "started"


def by_hand(caller, verb):
    """The operator or the manager ran `verb` (start, restart, rebuild) on it."""
    return {"reason": "operator", "by": caller, "verb": verb}


def after_crash(rc, attempt):
    """The crash watch restarts it: exit code `rc`, the `attempt`-th crash in its window."""
    return {"reason": "crash", "rc": rc, "attempt": attempt}


def new_config(approval_id, sha):
    """An approved config commit was applied; it starts on it."""
    return {"reason": "config", "tag": f"approved/{approval_id}", "sha": sha}


def rolled_back(approval_id, sha):
    """The approved config failed and the applied repo is back on `sha`."""
    return {"reason": "rollback", "tag": f"failed/{approval_id}", "sha": sha}


def with_host():
    """The host started and starts the agents that were running."""
    return {"reason": "host"}
