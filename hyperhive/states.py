"""The harness's turn states and the moves between them. Standard library only.

    idle ──message──▶ thinking ──done──▶ idle
    thinking ──prompt too long──▶ compacting ──done──▶ thinking
    idle ──operator compact──▶ compacting ──done──▶ idle
    idle ──nap──▶ napping ──deadline or cancel──▶ idle
"""

import enum


class TurnState(str, enum.Enum):
    IDLE = "idle"
    THINKING = "thinking"
    COMPACTING = "compacting"
    NAPPING = "napping"


class IllegalTransition(Exception):
    pass


ALLOWED = {
    TurnState.IDLE: {TurnState.THINKING, TurnState.COMPACTING, TurnState.NAPPING},
    TurnState.THINKING: {TurnState.IDLE, TurnState.COMPACTING, TurnState.NAPPING},
    TurnState.COMPACTING: {TurnState.THINKING, TurnState.IDLE},
    TurnState.NAPPING: {TurnState.IDLE, TurnState.THINKING, TurnState.COMPACTING},
}


def next_state(current, wanted):
    current, wanted = TurnState(current), TurnState(wanted)
    if wanted != current and wanted not in ALLOWED[current]:
        raise IllegalTransition(f"cannot go from {current.value} to {wanted.value}")
    return wanted
