"""The failed list: messages whose turns failed every attempt the harness gave them.

The harness hands such a message over with `fail_message`; the host checks it is one
the caller was delivered and has not acked (an agent cannot set aside another agent's
message, or invent one), acks it, lists it and tells the manager. The operator then
retries it (back into the agent's inbox, deliverable) or discards it.
"""

from . import bounds
from .errors import BadArgs, NotFound
from .names import MANAGER, OPERATOR
from .states import FAIL_OUTCOMES


class FailedTurns:
    def __init__(self, bus, agents):
        self.bus = bus
        self.store = bus.store
        self.agents = agents

    def fail_message(self, caller, id, outcome, note="", stderr_tail="", attempts=1):
        """The caller's harness gives up on message `id` after `attempts` failed turns."""
        if outcome not in FAIL_OUTCOMES:
            raise BadArgs(f"`outcome` must be one of {', '.join(FAIL_OUTCOMES)}")
        if not isinstance(attempts, int) or not 1 <= attempts <= bounds.MAX_TURN_ATTEMPTS:
            raise BadArgs(f"`attempts` must be between 1 and {bounds.MAX_TURN_ATTEMPTS}")
        # Said alike for another agent's message, an acked one and none at all.
        missing = NotFound(f"message #{id} is not one you were handed and have not acked")

        def write():
            now = self.bus.clock()
            if not self.store.set_aside(caller, id, now, outcome, note, stderr_tail, attempts):
                raise missing
            self.bus.emit("acked", to=caller, ids=[id])
            self.bus.emit("failed_turn_added", id=id, agent=caller, outcome=outcome)
            row = self.store.failed_turn(id)
            # The manager's own failures go to the operator: the manager must not be
            # woken by a notice of its own failing turns.
            told = OPERATOR if caller == MANAGER else MANAGER
            if told == OPERATOR or self.agents.exists(MANAGER):
                self.bus.post_system(told, "message_failed", agent=caller, message_id=id,
                                     sender=row["sender"], outcome=outcome, note=note,
                                     attempts=attempts, stderr_tail=stderr_tail)
            return told
        told = self.bus.write(write)
        self.bus.ring(told)
        return {"id": id, "listed": True}

    def listing(self, caller, agent=None):
        """The failed list, newest first: the operator's, every agent's (or `agent`'s);
        an agent's, its own."""
        if caller != OPERATOR:
            if agent not in (None, caller):
                raise BadArgs("you can list only your own failed turns; leave `agent` out")
            agent = caller
        return {"failed": self.store.failed_turns(agent, bounds.MAX_FAILED_LISTED)}

    def retry(self, id, agent=None):
        """The operator's: the message goes back into its agent's inbox, deliverable.
        `agent`: only when the row is that agent's (an agent's page asks for its own)."""
        row = self._row(id, agent)
        if not self.agents.exists(row["agent"]):
            raise NotFound(f"{row['agent']} no longer exists; discard #{id} instead")

        def write():
            if not self.store.take_back_failed(id):
                raise NotFound(f"message #{id} is not on the failed list")
            self.bus.left_unread(row["agent"])
            self.bus.emit("failed_turn_removed", id=id, agent=row["agent"], retried=True)
            self.bus.emit("agent_changed", name=row["agent"],
                          unread=self.store.unread_count(row["agent"]))
        self.bus.write(write)
        self.bus.ring(row["agent"])
        return {"id": id, "agent": row["agent"], "retried": True}

    def discard(self, id, agent=None):
        """The operator's: the row leaves the list; the message stays handled."""
        row = self._row(id, agent)

        def write():
            if not self.store.drop_failed(id):
                raise NotFound(f"message #{id} is not on the failed list")
            self.bus.emit("failed_turn_removed", id=id, agent=row["agent"], retried=False)
        self.bus.write(write)
        return {"id": id, "agent": row["agent"], "discarded": True}

    def _row(self, id, agent):
        row = self.store.failed_turn(id)
        if row is None or (agent is not None and row["agent"] != agent):
            raise NotFound(f"message #{id} is not on the failed list")
        return row
