"""The harness's turn states and the moves between them. Standard library only.

    idle ──message──▶ thinking ──done──▶ idle
    thinking ──prompt too long──▶ compacting ──done──▶ thinking
    idle ──operator compact──▶ compacting ──done──▶ idle
    idle ──nap──▶ napping ──deadline or cancel──▶ idle
    idle ──a failed turn──▶ retrying ──its rest over──▶ thinking (the same message)
"""

import enum
import re

# What a harness may report as its model: a short alias or a full model id. The
# harness checks the operator's choice with it, the host every report.
MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\[\]-]{0,63}$")

# The harness's own status, beside its turn state (the agent page's alive badge).
STATUSES = ("loading", "online", "needs_login_idle", "needs_login_in_progress", "offline",
            "rate_limited")


# The outcomes of a turn that count as failing: the harness tries the message again,
# and after its last attempt hands it to the host's failed list. A rate limit or a
# missing login is not one: each has its own wait, and the message comes back after.
FAIL_OUTCOMES = ("failed", "prompt_too_long")


class TurnState(str, enum.Enum):
    IDLE = "idle"
    THINKING = "thinking"
    COMPACTING = "compacting"
    NAPPING = "napping"
    RETRYING = "retrying"


class IllegalTransition(Exception):
    pass


ALLOWED = {
    TurnState.IDLE: {TurnState.THINKING, TurnState.COMPACTING, TurnState.NAPPING,
                     TurnState.RETRYING},
    TurnState.THINKING: {TurnState.IDLE, TurnState.COMPACTING, TurnState.NAPPING},
    TurnState.COMPACTING: {TurnState.THINKING, TurnState.IDLE},
    TurnState.NAPPING: {TurnState.IDLE, TurnState.THINKING, TurnState.COMPACTING},
    TurnState.RETRYING: {TurnState.IDLE, TurnState.THINKING},
}


def next_state(current, wanted):
    current, wanted = TurnState(current), TurnState(wanted)
    if wanted != current and wanted not in ALLOWED[current]:
        raise IllegalTransition(f"cannot go from {current.value} to {wanted.value}")
    return wanted
