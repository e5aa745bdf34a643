"""The store's rows of agents: the registry, the host's records of agent dirs, uid slots."""

from .schema import AGENT_DIR_FIELDS, Agent, AgentDir, AgentSlot, row_of


class AgentRows:
    """Mixed into Store: its `_conn` is the shared connection."""

    # -- agents -----------------------------------------------------------

    def add_agent(self, name, now, host=None):
        Agent.insert(name=name, created_at=now, host=host).on_conflict_ignore().execute()

    def remove_agent(self, name):
        return Agent.delete().where(Agent.name == name).execute()

    def agents(self):
        q = Agent.select().order_by(Agent.created_at, Agent.name)
        return [row_of(r, "name", "created_at", "paused", "status_text", "status_set_at", "host")
                for r in q]

    def is_paused(self, name):
        return Agent.select().where((Agent.name == name) & Agent.paused).exists()

    def has_agent(self, name):
        return Agent.select().where(Agent.name == name).exists()

    def set_agent(self, name, **fields):
        return Agent.update(**fields).where(Agent.name == name).execute()

    # -- agent dirs ---------------------------------------------------------

    def add_agent_dir(self, name, port, created_at, **fields):
        AgentDir.insert(name=name, port=port, created_at=created_at, **fields).execute()

    def agent_dir(self, name):
        r = AgentDir.get_or_none(AgentDir.name == name)
        return row_of(r, *AGENT_DIR_FIELDS) if r else None

    def agent_dirs(self):
        return [row_of(r, *AGENT_DIR_FIELDS) for r in AgentDir.select().order_by(AgentDir.name)]

    def set_agent_dir(self, name, **fields):
        return AgentDir.update(**fields).where(AgentDir.name == name).execute()

    def remove_agent_dir(self, name):
        return AgentDir.delete().where(AgentDir.name == name).execute()

    def remove_draft(self, name):
        """Forget a draft's dirs unless a spawn of it waits for approval: 1 when this call
        did it. One conditional DELETE, so a discard and a request to boot the draft (or
        two discards) cannot both win."""
        return self._conn.execute(
            "DELETE FROM agent_dirs WHERE name = ? AND draft = TRUE AND NOT EXISTS (SELECT 1 "
            "FROM approvals WHERE agent = ? AND kind = 'spawn' AND status = 'pending')",
            (name, name)).rowcount

    def agent_slot(self, name, slots, usable=lambda slot: True):
        """The agent's slot, allocated now (the lowest free, `usable` one below `slots`) if
        it has none or its own is not usable any more. None when every slot is taken."""
        row = AgentSlot.get_or_none(AgentSlot.name == name)
        if row is not None:
            if usable(row.slot):
                return row.slot
            row.delete_instance()
        taken = {r.slot for r in AgentSlot.select(AgentSlot.slot)}
        free = next((n for n in range(slots) if n not in taken and usable(n)), None)
        if free is not None:
            AgentSlot.insert(name=name, slot=free).execute()
        return free

    def free_slot(self, name):
        return AgentSlot.delete().where(AgentSlot.name == name).execute()
