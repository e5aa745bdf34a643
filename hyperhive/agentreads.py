"""What the operator and the manager read about an agent from the host's side: its
journal (`ctl logs`, the journal panel, the manager's `get_logs`), the state kept after
a destroy, and its config with the config repo's history. Nothing here changes state,
so none of it goes through the lifecycle's steps in operations.py."""

from . import agentlogs, names
from .bounds import LOG_LINES
from .errors import NotFound


class AgentReads:
    def __init__(self, agents, lifecycle):
        self.agents = agents
        self.lifecycle = lifecycle

    def kept_state(self):
        return [self.lifecycle.kept_info(n) for n in self.lifecycle.kept_names()]

    def journal_query(self, caller, name):
        """An agent's (or kept state's) journal and own records: `ctl logs`, journal panel."""
        names.check(name)
        if not self.agents.exists(name) and name not in self.lifecycle.kept_names():
            raise NotFound(f"there is no agent or kept state named {name}")
        return self.lifecycle.backend.journal_query(name)

    def get_logs(self, caller, name, lines=LOG_LINES):
        """The manager's read of a live agent's journal (agentlogs.py says what it holds)."""
        life = self.lifecycle
        return agentlogs.read(self.agents, life.backend, life.owners, name, lines)

    def config_view(self, caller, name, limit=None):
        """An agent's applied agent.json and its config repo's history (Configs.view)."""
        return self.lifecycle.configs.view(self.agents.need(name), limit)
