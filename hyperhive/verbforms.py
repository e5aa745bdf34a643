"""The forms a verb is declared in: its MCP tool, its `ctl` forms, the verb itself, and
the verb as one socket offers it. verbs.py holds the table built from them.

Standard library only, like verbs.py, so `hyperhive mcp` loads it without the host's
dependencies.
"""

from dataclasses import dataclass, field

from . import printouts
from .errors import BadArgs


@dataclass(frozen=True)
class Arg:
    """One MCP tool parameter: what the model reads about it, and bounds its schema shows
    (the field's spec still checks the value on the host)."""
    description: str
    ge: float | None = None
    le: float | None = None
    gt: float | None = None


@dataclass(frozen=True)
class Tool:
    """A verb's MCP tool, named as the verb: an Arg per field, and the text of the reply."""
    description: str
    args: dict = field(default_factory=dict)
    reply: object = None            # replies.format_*: (reply, **args) -> text
    parks: bool = False             # it may wait up to `wait_seconds` for its answer


@dataclass(frozen=True)
class Ctl:
    """A verb's `hyperhive ctl` subcommand: required fields become positional arguments,
    optional ones `--flags` (a true/false one a switch, a list one comma-separated)."""
    help: str
    name: str = ""                  # the subcommand; the cmd with `-` for `_` by default
    flags: dict = field(default_factory=dict)   # field -> argparse options ("flag": its name)
    sets: dict = field(default_factory=dict)    # fields this form fixes (pause: paused=true)
    stdin: str = ""                 # the field whose `-` means "read standard input"
    render: object = printouts.plain    # (reply, args) -> text
    run: str = ""                   # a runner of ctl's own instead of one request and render


@dataclass(frozen=True)
class Verb:
    """One cmd: what it takes, where it is offered and how, its tool and its ctl forms."""
    cmd: str
    doc: str
    on: dict                        # socket role -> handler: a Call, its method's name, or
    #                                 a function (broker, caller, **args) -> dict
    required: dict = field(default_factory=dict)    # field -> spec with .check(name, value)
    optional: dict = field(default_factory=dict)
    forward: bool = False           # the harness passes it from mcp.sock to the host
    local: bool = False             # the harness answers it on mcp.sock itself
    tool: Tool | None = None
    no_tool: str = ""               # why a forwarded verb has no tool
    ctl: tuple = ()
    no_ctl: str = ""                # why an admin verb has no ctl form

    @property
    def fields(self):
        return {**self.required, **self.optional}

    def check(self, request):
        """The request's arguments, each checked by its field's spec."""
        args = {}
        for name, spec in self.required.items():
            if name not in request:
                raise BadArgs(f"missing field `{name}`")
            args[name] = spec.check(name, request[name])
        for name, spec in self.optional.items():
            if request.get(name) is not None:
                args[name] = spec.check(name, request[name])
        return args

    def ctl_name(self, form):
        return form.name or self.cmd.replace("_", "-")


@dataclass(frozen=True)
class Offer:
    """A verb as one socket offers it, with that socket's handler."""
    verb: Verb
    handler: object                 # (broker, caller, **args) -> dict

    def call(self, broker, caller, request):
        return self.handler(broker, caller, **self.verb.check(request)) or {}


def on(handler, *roles, **others):
    """`on=` for a verb with one handler on `roles` and others named by role."""
    return {**dict.fromkeys(roles, handler), **others}
