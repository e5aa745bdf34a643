"""The lifecycle verbs as a host of a hive of several sees them: a verb for an agent that
another host runs is carried out there (worklist.py), and answers here as it would have
locally. Everything else is the host's own Operations (operations.py), untouched.

Every adapter (the admin socket, the manager's socket, the dashboard) reaches the verbs
through `broker.operations`, so this one wrapper routes them all.
"""

import inspect
from functools import partial

from .errors import Conflict, NotFound

# Verbs for one agent, named by this argument. A name that is no live agent is the host's
# that keeps its dirs: kept state (purge, destroy with purge, a revive: spawn) or a draft.
BY_AGENT = {"start": "name", "stop": "name", "restart": "name", "rebuild": "name",
            "destroy": "name", "request_apply_commit": "agent", "spawn": "name",
            "purge": "name", "discard_draft": "name"}
# Decisions on an approval: an apply_commit acts on its agent's config, on its home host.
BY_APPROVAL = ("approve", "deny")
ROUTED = (*BY_AGENT, *BY_APPROVAL)


class Routed:
    def __init__(self, operations, agents, store, worklist, busy=lambda name: None):
        self.operations = operations
        self.agents = agents
        self.store = store
        self.worklist = worklist
        self.busy = busy                   # moves.py: a sentence while `name` is moving
        for verb in ROUTED:
            # Carried out for another host as for this one: an agent moved meanwhile is
            # passed on to its new home, and one on its way out is refused.
            worklist.offer(verb, partial(self._route, verb, getattr(operations, verb)))

    def __getattr__(self, attr):
        value = getattr(self.operations, attr)
        if attr in ROUTED:
            return partial(self._route, attr, value)
        return value

    def _route(self, verb, method, *args, **kwargs):
        try:
            bound = inspect.signature(method).bind(*args, **kwargs)
        except TypeError:
            return method(*args, **kwargs)     # it answers the mistake as it always has
        args = dict(bound.arguments)
        caller = args.pop("caller")
        if verb == "spawn":
            return self._spawn(method, caller, **args)
        home = self._home(verb, args)
        if home is not None:
            return self.worklist.ask(home, verb, caller, **args)
        if verb in BY_AGENT and (busy := self.busy(args.get(BY_AGENT[verb]))):
            raise Conflict(busy)
        return method(caller, **args)

    def _spawn(self, method, caller, name, host=None):
        """A new agent's home is the host asked (default: this one); a revive's is the
        host that keeps its dirs."""
        if host in (None, self.agents.host):
            home = self._home("spawn", {"name": name})
            if home is None:
                return method(caller, name)
            if host is not None:
                raise Conflict(f"{name!r}'s kept state is on host {home!r}: revive it there, "
                               "or move it first")
            return self.worklist.ask(home, "spawn", caller, name=name)
        if not isinstance(host, str) or not self.worklist.hosts.known(host):
            raise NotFound(f"there is no host named {str(host)[:40]!r} in this hive")
        return self.worklist.ask(host, "spawn", caller, name=name)

    def _home(self, verb, args):
        """The other host that must carry `verb` out; None: this one."""
        if verb in BY_APPROVAL:
            approval = self.store.approval(args["id"]) if isinstance(args["id"], int) else None
            if not approval or approval["kind"] != "apply_commit":
                return None
            name = approval["agent"]
        else:
            name = args.get(BY_AGENT[verb])
        if not isinstance(name, str):
            return None
        if self.agents.exists(name):
            home = self.agents.home(name)
        else:
            home = (self.store.agent_dir(name) or {}).get("host")
        return None if home in (None, self.agents.host) else home
