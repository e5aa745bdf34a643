"""Agent names: the one check every name passes before it touches a path."""

import re

from .errors import BadArgs

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,8}$")
MANAGER = "manager"
OPERATOR = "operator"
SYSTEM = "system"
BROADCAST = "*"
# Names that mean something on the wire and can never be an agent.
RESERVED = {OPERATOR, SYSTEM, "all", "host"}


def is_valid(name):
    return isinstance(name, str) and NAME_RE.match(name) is not None


def check(name, what="agent name"):
    """Return `name` if it is a well-formed agent name, else raise BadArgs."""
    if not is_valid(name):
        shown = repr(name)[:40]
        raise BadArgs(f"{what} {shown} is not valid: use 1-9 characters, "
                      "lowercase letters, digits and '-', starting with a letter")
    return name


def check_new(name):
    """Like check(), and also refuses the names reserved for the wire."""
    check(name)
    if name in RESERVED:
        raise BadArgs(f"{name!r} is reserved and cannot name an agent")
    return name


def container_name(name):
    check(name)
    return "hm1nd" if name == MANAGER else f"h-{name}"
