"""Who owns what (SPEC §12): an agent's uid slot, the host uids of its harness and claude,
and which of its dirs each of them owns."""

import os

from . import isolation
from .backends import AgentIds
from .errors import Unavailable
from .names import MANAGER


class Ownership:
    def __init__(self, places, registry, backend_name):
        self.places = places
        self.registry = registry          # agents.Agents: dir records and slots
        self.backend_name = backend_name
        self.isolated = isolation.isolated()
        self._slots = {}
        self._claims = isolation.SlotClaims()

    def ids(self, name):
        """The host uids of an agent's harness and claude; None when agents share ours."""
        if not self.isolated:
            return None
        slot = self._slots.get(name)
        if slot is None:
            # A slot that another hive on this machine runs now is given up for a free
            # one; the agent's dirs are handed to the new uids when it starts.
            slot = self._slots[name] = self.registry.slot(name, isolation.SLOTS,
                                                          self._claims.claim)
        if slot is None:
            self._slots.pop(name)
            raise Unavailable(f"this host has given out all {isolation.SLOTS} agent uids; "
                              "purge kept state it no longer needs")
        if self.backend_name == "process":
            return AgentIds(harness=0, claude=isolation.agent_uid(slot))
        base = isolation.userns_base(slot)
        return AgentIds(harness=base, claude=base + isolation.CONTAINER_CLAUDE_UID,
                        userns=base)

    def own_dirs(self, name, draft, kept=()):
        """Give an agent's dirs to its uids: its own three to claude, the rest to root.

        The manager's claude owns every agent's proposed config repo: it edits them
        (`kept`: the kept states', whose repos it may still edit). A draft's state dir
        is the manager's too, for the starting notes it puts there; the first boot
        hands it, and all in it, to the agent.
        """
        p = self.places
        ids = self.ids(name)
        if ids is None:
            return
        manager = self.ids(MANAGER).claude
        os.chmod(p.agent_dir(name), 0o711)
        p.harness_dir(name).mkdir(exist_ok=True)     # agents older than the harness dir
        state_owner = manager if draft else ids.claude
        isolation.give(p.state_dir(name), state_owner, state_owner, 0o700)
        for d in (p.claude_dir(name), p.home_dir(name)):
            isolation.give(d, ids.claude, ids.claude, 0o700)
        isolation.give(p.harness_dir(name), ids.harness, ids.harness, 0o700)
        isolation.give(p.hive_dir(name), ids.harness, ids.claude, 0o750)
        for agent in {name, *kept} if name == MANAGER else {name}:
            if p.config_repo(agent).is_dir():
                isolation.give(p.config_repo(agent), manager, manager, 0o700)

    def give_socket(self, name):
        """The agent's broker.sock: only its harness may connect (0600, its uid)."""
        ids = self.ids(name)
        if ids is not None and ids.harness != 0:
            os.chown(self.places.broker_sock(name), ids.harness, ids.harness)

    def release(self, name):
        """Its uids go back to the pool: call only once no file of theirs is left."""
        self.registry.free_slot(name)
        slot = self._slots.pop(name, None)
        if slot is not None:
            self._claims.release(slot)
