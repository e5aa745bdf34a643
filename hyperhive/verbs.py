"""The socket verbs of SPEC §3.1 and §3.2: argument checks, then one broker call.

Each table maps a `cmd` to a Verb. A Verb names its fields and what each may
hold: a type, and for every string, list and object a bound (SPEC §12: every
value an agent sends is bounded). `call()` checks the request against them and
passes the caller's identity (taken from the socket, never from the request)
to the broker, which checks what the values mean.
"""

import json
import math
import re
from dataclasses import dataclass, field

from .bounds import (
    MAX_ANSWER,
    MAX_BODY,
    MAX_CONFIG_ERROR,
    MAX_DESCRIPTION,
    MAX_DETAIL,
    MAX_DETAIL_ITEMS,
    MAX_DETAIL_KEYS,
    MAX_IDS,
    MAX_OPTION,
    MAX_OPTIONS,
    MAX_QUESTION,
    MAX_REMINDER_PATH,
    MAX_SHORT,
    MAX_STATUS_TEXT,
)
from .errors import BadArgs, Forbidden, UnknownCmd
from .names import OPERATOR
from .states import MODEL_RE, STATUSES, TurnState


@dataclass(frozen=True)
class Text:
    """A string of at most `limit` bytes of UTF-8."""
    limit: int

    def check(self, name, value):
        if not isinstance(value, str):
            raise BadArgs(f"`{name}` must be a string")
        # A character is 1 to 4 bytes: only a string near the limit needs encoding.
        if len(value) > self.limit or (4 * len(value) > self.limit
                                       and len(value.encode()) > self.limit):
            raise BadArgs(f"`{name}` is over its {self.limit}-byte limit; send less")
        return value


@dataclass(frozen=True)
class Num:
    """A finite number in [lo, hi]; `integer` refuses fractions."""
    lo: float
    hi: float
    integer: bool = False
    what: str = ""

    def check(self, name, value):
        kinds = int if self.integer else (int, float)
        # bool is an int in Python; a JSON `true` is never a valid id or count.
        if isinstance(value, bool) or not isinstance(value, kinds) \
                or not (isinstance(value, int) or math.isfinite(value)):
            raise BadArgs(f"`{name}` must be {'an integer' if self.integer else 'a number'}")
        if not self.lo <= value <= self.hi:
            raise BadArgs(f"`{name}` must be {self.what or f'between {self.lo} and {self.hi}'}")
        return value


@dataclass(frozen=True)
class OneOf:
    values: tuple

    def check(self, name, value):
        if value not in self.values:
            raise BadArgs(f"`{name}` must be one of {', '.join(self.values)}")
        return value


@dataclass(frozen=True)
class Matches:
    regex: re.Pattern
    hint: str

    def check(self, name, value):
        if not isinstance(value, str) or not self.regex.fullmatch(value):
            raise BadArgs(f"`{name}` must be {self.hint}")
        return value


@dataclass(frozen=True)
class ListOf:
    item: object
    max_items: int

    def check(self, name, value):
        if not isinstance(value, list):
            raise BadArgs(f"`{name}` must be a list")
        if len(value) > self.max_items:
            raise BadArgs(f"`{name}` has {len(value)} items; at most {self.max_items} are allowed")
        return [self.item.check(f"{name}[{i}]", v) for i, v in enumerate(value)]


@dataclass(frozen=True)
class Detail:
    """A small flat object: short keys; strings, numbers, true/false, null or lists of strings."""
    max_keys: int
    max_items: int
    max_bytes: int

    def check(self, name, value):
        if not isinstance(value, dict):
            raise BadArgs(f"`{name}` must be an object")
        if len(value) > self.max_keys:
            raise BadArgs(f"`{name}` has {len(value)} keys; at most {self.max_keys} are allowed")
        for key, item in value.items():
            if not _KEY.fullmatch(key):
                raise BadArgs(f"`{name}` keys must be short lowercase identifiers, "
                              f"not {key[:40]!r}")
            self._check_value(f"{name}.{key}", item)
        if len(json.dumps(value, ensure_ascii=False).encode()) > self.max_bytes:
            raise BadArgs(f"`{name}` is over its {self.max_bytes}-byte limit; send less")
        return value

    def _check_value(self, name, item):
        if item is None or isinstance(item, (str, bool)):
            return
        if isinstance(item, (int, float)):
            (INT if isinstance(item, int) else NUM).check(name, item)
        elif isinstance(item, list):
            ListOf(Text(self.max_bytes), self.max_items).check(name, item)
        else:
            raise BadArgs(f"`{name}` must be a string, a number, true/false, null or a list "
                          "of strings")


_KEY = re.compile(r"[a-z_][a-z0-9_]{0,31}")


class _Bool:
    def check(self, name, value):
        if not isinstance(value, bool):
            raise BadArgs(f"`{name}` must be true or false")
        return value


BOOL = _Bool()
NUM = Num(-1e15, 1e15, what="a number of sane size")
INT = Num(-(1 << 63), (1 << 63) - 1, integer=True, what="an integer that fits in 64 bits")
SHORT = Text(MAX_SHORT)
IDS = ListOf(INT, MAX_IDS)
# 2000-01-01 to 2100-01-01: a harness's clock, not a guess.
TIME = Num(946684800, 4102444800, what="a unix time in seconds")


@dataclass
class Verb:
    handler: object                     # (broker, caller, **args) -> dict
    required: dict = field(default_factory=dict)    # name -> spec with .check(name, value)
    optional: dict = field(default_factory=dict)
    doc: str = ""

    def call(self, broker, caller, request):
        args = {}
        for name, spec in self.required.items():
            if name not in request:
                raise BadArgs(f"missing field `{name}`")
            args[name] = spec.check(name, request[name])
        for name, spec in self.optional.items():
            if request.get(name) is not None:
                args[name] = spec.check(name, request[name])
        return self.handler(broker, caller, **args) or {}


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
    return broker.wake(caller, args["from"], body)


def _operator_send(broker, caller, to, body, in_reply_to=None):
    return broker.send(OPERATOR, to, body, in_reply_to)


AGENT_VERBS = {
    "send": Verb(_b("send"), {"to": SHORT, "body": Text(MAX_BODY)}, {"in_reply_to": INT},
                 "send a message; `to` is an agent, 'manager', 'operator' or '*'"),
    "recv": Verb(_b("recv"), {}, {"wait_seconds": NUM, "max": INT},
                 "take waiting messages; wait up to wait_seconds (max 180) for one"),
    "ack": Verb(_b("ack"), {"ids": IDS}, {}, "mark received messages handled"),
    "requeue": Verb(_b("requeue"), {}, {}, "make delivered-but-unacked messages deliverable again"),
    "undeliver": Verb(lambda b, caller, ids: b.undeliver(ids, recipient=caller),
                      {"ids": IDS}, {}, "put back messages a reply never brought to their reader"),
    "status": Verb(_b("status"), {}, {}, "unread, pending reminders, open threads"),
    "recent": Verb(_b("recent"), {}, {"limit": INT}, "the last messages to me, read or not"),
    "wake": Verb(_wake, {"from": SHORT, "body": Text(MAX_BODY)}, {},
                 "put a message into my own inbox, from wake:<label>"),
    "ask": Verb(_b("ask"), {"question": Text(MAX_QUESTION)},
                # 4 bytes is the most one character takes in UTF-8.
                {"options": ListOf(Text(4 * MAX_OPTION), MAX_OPTIONS), "multi": BOOL,
                 "ttl_seconds": NUM, "to": SHORT},
                "ask the operator (or an agent) a question; the answer comes later"),
    "answer": Verb(_b("answer"), {"id": INT, "answer": Text(MAX_ANSWER)}, {},
                   "answer a question asked of me"),
    "remind": Verb(_b("remind"), {"message": Text(MAX_BODY)},
                   {"delay_seconds": NUM, "at": NUM, "file_path": Text(MAX_REMINDER_PATH)},
                   "schedule a message to myself"),
    "set_status": Verb(_b("set_status"), {"text": Text(MAX_STATUS_TEXT)}, {},
                       "free text shown on the dashboard"),
    "open_threads": Verb(_b("open_threads"), {}, {}, "approvals and questions involving me"),
    "report": Verb(_b("report"), {}, {
        "turn_state": OneOf(tuple(s.value for s in TurnState)),
        "turn_state_since": TIME, "turn_state_until": TIME, "last_turn_at": TIME,
        "model": Matches(MODEL_RE, "a model name like haiku, sonnet or a full model id"),
        "needs_login": BOOL, "status": OneOf(STATUSES),
        "port": Num(1, 65535, integer=True, what="a port number, 1 to 65535"),
        "config_sha": Matches(re.compile(r"[0-9a-f]{40}"), "a commit's 40-hex sha"),
        "config_error": Text(MAX_CONFIG_ERROR)},
        "the harness reports its live state"),
    "notify_manager": Verb(_b("notify_manager"), {"event": SHORT},
                           {"detail": Detail(MAX_DETAIL_KEYS, MAX_DETAIL_ITEMS, MAX_DETAIL)},
                           "tell the manager about a failure of mine (a system message)"),
}

_DESCRIPTION = {"description": Text(MAX_DESCRIPTION)}
MANAGER_VERBS = {
    **AGENT_VERBS,
    "request_spawn": Verb(_b("request_spawn"), {"name": SHORT}, _DESCRIPTION,
                          "ask the operator to approve a new agent"),
    "request_apply_commit": Verb(_b("request_apply_commit"), {"agent": SHORT, "commit_ref": SHORT},
                                 _DESCRIPTION, "ask the operator to approve a config commit"),
    "request_spawn_draft": Verb(_b("request_spawn_draft"), {"name": SHORT}, _DESCRIPTION,
                                "create a future agent's config repo and state dir to edit"),
    "request_spawn_commit": Verb(_b("request_spawn_commit"), {"name": SHORT, "commit_ref": SHORT},
                                 _DESCRIPTION,
                                 "ask the operator to boot a draft from one of its commits"),
    "drafts": Verb(lambda b, c: b.drafts(), {}, {}, "drafts waiting for their first boot"),
    "discard_draft": Verb(_b("discard_draft"), {"name": SHORT}, {}, "delete a draft"),
    "start": Verb(_manager_lifecycle("start_agent"), {"name": SHORT}, {}, "start an agent"),
    "stop": Verb(_manager_lifecycle("stop_agent"), {"name": SHORT}, {}, "stop an agent"),
    "restart": Verb(_manager_lifecycle("restart_agent"), {"name": SHORT}, {}, "restart an agent"),
    "rebuild": Verb(_manager_lifecycle("rebuild_agent"), {"name": SHORT}, {},
                    "re-apply an agent's config and restart it"),
    "list": Verb(_agents_list, {}, {}, "agent names"),
    "status_all": Verb(_status_rows, {}, {}, "status rows of every agent"),
}

ADMIN_VERBS = {
    "list": Verb(_agents_list, {}, {}, "agent names"),
    "status": Verb(_status_rows, {}, {}, "status rows of every agent"),
    "spawn": Verb(_b("spawn"), {"name": SHORT}, {}, "create and start an agent, no approval"),
    "request_spawn": Verb(_b("request_spawn"), {"name": SHORT}, _DESCRIPTION,
                          "queue a spawn for approval"),
    "start": Verb(_b("start_agent"), {"name": SHORT}, {}, "start an agent"),
    "stop": Verb(_b("stop_agent"), {"name": SHORT}, {}, "stop an agent"),
    "restart": Verb(_b("restart_agent"), {"name": SHORT}, {}, "restart an agent"),
    "rebuild": Verb(_b("rebuild_agent"), {"name": SHORT}, {}, "re-apply config and restart"),
    "destroy": Verb(_b("destroy_agent"), {"name": SHORT}, {"purge": BOOL},
                    "remove an agent; its state is kept unless purge"),
    "purge": Verb(_b("purge_kept"), {"name": SHORT}, {},
                  "delete the kept state of a destroyed agent"),
    "drafts": Verb(lambda b, c: b.drafts(), {}, {}, "drafts waiting for their first boot"),
    "discard_draft": Verb(_b("discard_draft"), {"name": SHORT}, {}, "delete a draft"),
    "set_paused": Verb(lambda b, c, name, paused: b.set_paused(name, paused),
                       {"name": SHORT, "paused": BOOL}, {}, "pause or resume an agent"),
    "pending": Verb(lambda b, c: b.pending(), {}, {}, "pending approvals"),
    "approve": Verb(_b("approve"), {"id": INT}, {"diff_sha256": SHORT},
                    "approve and apply; a diff longer than pages show needs its sha256"),
    "approval_diff": Verb(_b("approval_diff"), {"id": INT}, {},
                          "the whole diff of an approval, and its sha256"),
    "deny": Verb(_b("deny"), {"id": INT}, {"note": Text(MAX_DESCRIPTION)},
                 "deny, with an optional note"),
    "send": Verb(_operator_send, {"to": SHORT, "body": Text(MAX_BODY)}, {"in_reply_to": INT},
                 "send a message as the operator"),
    "inbox": Verb(lambda b, c, limit=50: b.inbox(limit), {}, {"limit": INT},
                  "messages to the operator"),
    "questions": Verb(lambda b, c: b.questions(), {}, {}, "open questions"),
    "answer": Verb(_b("answer"), {"id": INT, "answer": Text(MAX_ANSWER)}, {},
                   "answer a question"),
    "cancel_question": Verb(_b("cancel_question"), {"id": INT}, {}, "cancel a question"),
    "logs": Verb(_b("journal_query"), {"name": SHORT}, {},
                 "where an agent's journal is: {machine, directory, matches} for journalctl"),
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

