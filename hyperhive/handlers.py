"""How a socket's verb reaches the broker: handlers that name its methods as strings.

A name is resolved on the broker object at call time, so the verb table that holds
these never imports the broker (it must load with the standard library alone).
Every handler is called as (broker, caller, **checked_args) and returns the reply's
fields; the caller comes from the socket, never from the request.
"""

from dataclasses import dataclass

from .errors import Forbidden
from .names import OPERATOR


def broker_method(broker, path):
    """broker.<path>; a dotted path goes through an attribute (`sessions.login_url`)."""
    target = broker
    for part in path.split("."):
        target = getattr(target, part)
    return target


@dataclass(frozen=True)
class Call:
    """A handler that calls a broker method by name, the caller first unless `caller` is
    False; `key` puts the result under that key of the reply."""
    method: str
    caller: bool = True
    key: str = ""

    def __call__(self, broker, caller, **args):
        method = broker_method(broker, self.method)
        result = method(caller, **args) if self.caller else method(**args)
        return {self.key: result} if self.key else result


def refusing_self(method):
    """The manager's lifecycle verbs: never on itself (SPEC §3.2)."""
    call = Call(method)

    def handler(broker, caller, name):
        if name == caller:
            raise Forbidden("the manager cannot run lifecycle verbs on itself")
        return call(broker, caller, name=name)
    return handler


def as_operator(broker, caller, **args):
    """The admin socket's `send`: the operator writes, whoever holds the socket."""
    return broker_method(broker, "messages.send")(OPERATOR, **args)


def wake(broker, caller, body, **args):
    # `from` is a Python keyword: the broker calls it the wake's label.
    return broker_method(broker, "messages.wake")(caller, args["from"], body)


def undeliver(broker, caller, ids):
    return broker_method(broker, "messages.undeliver")(ids, recipient=caller)


AGENT_NAMES = Call("agents.names", caller=False, key="agents")
STATUS_ROWS = Call("status_rows", caller=False, key="agent_statuses")


def manager_status(broker, caller):
    """The manager's own inbox status, and every agent's row (SPEC §3.2 lists `status`
    for the manager too; its hive-wide `status_all` answers the rows alone)."""
    return {**Call("messages.status")(broker, caller), **STATUS_ROWS(broker, caller)}
