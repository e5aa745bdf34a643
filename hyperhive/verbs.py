"""The socket verbs of SPEC §3.1 and §3.2: argument checks, then one broker call.

Each table maps a `cmd` to a Verb. A Verb names its fields and their types;
`call()` checks the request against them and passes the caller's identity
(taken from the socket, never from the request) to the broker.
"""

from dataclasses import dataclass, field

from .errors import BadArgs, Forbidden, UnknownCmd
from .names import OPERATOR

_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list",
               float: "a number", dict: "an object"}


@dataclass
class Verb:
    handler: object                     # (broker, caller, **args) -> dict
    required: dict = field(default_factory=dict)
    optional: dict = field(default_factory=dict)
    doc: str = ""

    def call(self, broker, caller, request):
        args = {}
        for name, kind in self.required.items():
            if name not in request:
                raise BadArgs(f"missing field `{name}`")
            args[name] = _check(name, request[name], kind)
        for name, kind in self.optional.items():
            if request.get(name) is not None:
                args[name] = _check(name, request[name], kind)
        return self.handler(broker, caller, **args) or {}


def _check(name, value, kind):
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python; a JSON `true` is never a valid id or count.
    if isinstance(value, bool) and bool not in kinds:
        raise BadArgs(f"`{name}` must be {_TYPE_NAMES[kinds[0]]}")
    if float in kinds and isinstance(value, int):
        return value
    if not isinstance(value, kinds):
        raise BadArgs(f"`{name}` must be {_TYPE_NAMES[kinds[0]]}")
    return value


NUM = (float, int)


def _ids(ids):
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise BadArgs("`ids` must be a list of message ids")
    return ids


def _b(method):
    """A handler that calls a broker method with the caller as first argument."""
    return lambda broker, caller, **args: getattr(broker, method)(caller, **args)


def _no_caller(method):
    return lambda broker, caller, **args: getattr(broker, method)(**args)


def _manager_lifecycle(method):
    def handler(broker, caller, name):
        if name == caller:
            raise Forbidden("the manager cannot run lifecycle verbs on itself")
        return getattr(broker, method)(caller, name)
    return handler


def _agents_list(broker, caller):
    return {"agents": broker.agent_names()}


def _status_rows(broker, caller):
    return {"agent_statuses": broker.status_rows()}


def _wake(broker, caller, body, **args):
    return broker.wake(caller, args.get("from", "wake"), body)


def _operator_send(broker, caller, to, body, in_reply_to=None):
    return broker.send(OPERATOR, to, body, in_reply_to)


AGENT_VERBS = {
    "send": Verb(_b("send"), {"to": str, "body": str}, {"in_reply_to": int},
                 "send a message; `to` is an agent, 'manager', 'operator' or '*'"),
    "recv": Verb(_b("recv"), {}, {"wait_seconds": NUM, "max": int},
                 "take waiting messages; wait up to wait_seconds (max 180) for one"),
    "ack": Verb(_b("ack"), {"ids": list}, {}, "mark received messages handled"),
    "requeue": Verb(_b("requeue"), {}, {}, "make delivered-but-unacked messages deliverable again"),
    "undeliver": Verb(lambda b, caller, ids: b.undeliver(_ids(ids), recipient=caller),
                      {"ids": list}, {}, "put back messages a reply never brought to their reader"),
    "status": Verb(_b("status"), {}, {}, "unread, pending reminders, open threads"),
    "recent": Verb(_b("recent"), {}, {"limit": int}, "the last messages to me, read or not"),
    "wake": Verb(_wake, {"body": str}, {"from": str}, "put a message into my own inbox"),
    "ask": Verb(_b("ask"), {"question": str},
                {"options": list, "multi": bool, "ttl_seconds": NUM, "to": str},
                "ask the operator (or an agent) a question; the answer comes later"),
    "answer": Verb(_b("answer"), {"id": int, "answer": str}, {}, "answer a question asked of me"),
    "remind": Verb(_b("remind"), {"message": str},
                   {"delay_seconds": NUM, "at": NUM, "file_path": str},
                   "schedule a message to myself"),
    "set_status": Verb(_b("set_status"), {"text": str}, {}, "free text shown on the dashboard"),
    "open_threads": Verb(_b("open_threads"), {}, {}, "approvals and questions involving me"),
    "report": Verb(_b("report"), {}, {k: t for k, t in (
        ("turn_state", str), ("turn_state_since", NUM), ("turn_state_until", NUM),
        ("model", str), ("needs_login", bool), ("last_turn_at", NUM), ("status", str),
        ("port", int))}, "the harness reports its live state"),
    "notify_manager": Verb(_b("notify_manager"), {"event": str}, {"detail": dict},
                           "tell the manager about a failure of mine (a system message)"),
}

MANAGER_VERBS = {
    **AGENT_VERBS,
    "request_spawn": Verb(_b("request_spawn"), {"name": str}, {"description": str},
                          "ask the operator to approve a new agent"),
    "request_apply_commit": Verb(_b("request_apply_commit"), {"agent": str, "commit_ref": str},
                                 {"description": str},
                                 "ask the operator to approve a config commit"),
    "request_spawn_draft": Verb(_b("request_spawn_draft"), {"name": str}, {"description": str},
                                "create a future agent's config repo and state dir to edit"),
    "request_spawn_commit": Verb(_b("request_spawn_commit"), {"name": str, "commit_ref": str},
                                 {"description": str},
                                 "ask the operator to boot a draft from one of its commits"),
    "drafts": Verb(lambda b, c: b.drafts(), {}, {}, "drafts waiting for their first boot"),
    "discard_draft": Verb(_b("discard_draft"), {"name": str}, {}, "delete a draft"),
    "start": Verb(_manager_lifecycle("start_agent"), {"name": str}, {}, "start an agent"),
    "stop": Verb(_manager_lifecycle("stop_agent"), {"name": str}, {}, "stop an agent"),
    "restart": Verb(_manager_lifecycle("restart_agent"), {"name": str}, {}, "restart an agent"),
    "rebuild": Verb(_manager_lifecycle("rebuild_agent"), {"name": str}, {},
                    "re-apply an agent's config and restart it"),
    "list": Verb(_agents_list, {}, {}, "agent names"),
    "status_all": Verb(_status_rows, {}, {}, "status rows of every agent"),
}

ADMIN_VERBS = {
    "list": Verb(_agents_list, {}, {}, "agent names"),
    "status": Verb(_status_rows, {}, {}, "status rows of every agent"),
    "spawn": Verb(_b("spawn"), {"name": str}, {}, "create and start an agent, no approval"),
    "request_spawn": Verb(_b("request_spawn"), {"name": str}, {"description": str},
                          "queue a spawn for approval"),
    "start": Verb(_b("start_agent"), {"name": str}, {}, "start an agent"),
    "stop": Verb(_b("stop_agent"), {"name": str}, {}, "stop an agent"),
    "restart": Verb(_b("restart_agent"), {"name": str}, {}, "restart an agent"),
    "rebuild": Verb(_b("rebuild_agent"), {"name": str}, {}, "re-apply config and restart"),
    "destroy": Verb(_b("destroy_agent"), {"name": str}, {"purge": bool},
                    "remove an agent; its state is kept unless purge"),
    "purge": Verb(_b("purge_kept"), {"name": str}, {}, "delete the kept state of a destroyed agent"),
    "drafts": Verb(lambda b, c: b.drafts(), {}, {}, "drafts waiting for their first boot"),
    "discard_draft": Verb(_b("discard_draft"), {"name": str}, {}, "delete a draft"),
    "set_paused": Verb(lambda b, c, name, paused: b.set_paused(name, paused),
                       {"name": str, "paused": bool}, {}, "pause or resume an agent"),
    "pending": Verb(lambda b, c: b.pending(), {}, {}, "pending approvals"),
    "approve": Verb(_b("approve"), {"id": int}, {"diff_sha256": str},
                    "approve and apply; a diff longer than pages show needs its sha256"),
    "approval_diff": Verb(_b("approval_diff"), {"id": int}, {},
                          "the whole diff of an approval, and its sha256"),
    "deny": Verb(_b("deny"), {"id": int}, {"note": str}, "deny, with an optional note"),
    "send": Verb(_operator_send, {"to": str, "body": str}, {"in_reply_to": int},
                 "send a message as the operator"),
    "inbox": Verb(lambda b, c, limit=50: b.inbox(limit), {}, {"limit": int},
                  "messages to the operator"),
    "questions": Verb(lambda b, c: b.questions(), {}, {}, "open questions"),
    "answer": Verb(_b("answer"), {"id": int, "answer": str}, {}, "answer a question"),
    "cancel_question": Verb(_b("cancel_question"), {"id": int}, {}, "cancel a question"),
    "login_url": Verb(lambda b, c: b.sessions.login_url(), {}, {},
                      "a one-time link that logs a browser in as the operator"),
    # `subscribe` is handled by the server itself: it turns the connection into a stream.
}

# The manager's `status` is its own inbox status like any agent's; the hive-wide
# rows are `status_all` there. SPEC §3.2 lists `status` for the manager too: a
# manager `status` request answers both.
def _manager_status(broker, caller):
    return {**broker.status(caller), "agent_statuses": broker.status_rows()}


MANAGER_VERBS["status"] = Verb(_manager_status, {}, {}, "my inbox status and every agent's row")


def table(role):
    return {"admin": ADMIN_VERBS, "manager": MANAGER_VERBS, "agent": AGENT_VERBS}[role]


def dispatch(verbs, broker, caller, request):
    cmd = request.get("cmd")
    if not isinstance(cmd, str):
        raise BadArgs("a request needs a string `cmd` field")
    verb = verbs.get(cmd)
    if verb is None:
        raise UnknownCmd(f"unknown cmd {cmd[:40]!r}; try `hello` for the list")
    return verb.call(broker, caller, request)

