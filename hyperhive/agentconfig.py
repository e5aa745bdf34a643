"""agent.json: the settings an agent runs with, their defaults, and what makes one
unusable.

The host checks a config with these before it applies it (repos.check_config), reads
the operator's defaults for new agents with them (load_defaults), and the harness
checks its extra MCP servers with the same check (server_problem).
"""

import json
import math
import re

from . import limits
from .bounds import MAX_BUDGET_USD
from .permissions import DEFAULT_ALLOWED_DOMAINS, bash_pattern_problem, check_domains

DEFAULT_CONFIG = {
    "model": "haiku",
    "allowed_recipients": [],
    "claude_plugins": [],
    "claude_marketplaces": [],
    "extra_mcp_servers": {},
    "allowed_bash_patterns": [],
    "allowed_domains": list(DEFAULT_ALLOWED_DOMAINS),
    "cpu_quota": None,
    "memory_max": None,
    "daily_budget_usd": None,
}
# Every key agent.json may have and the JSON type of its value (None: null is allowed
# too). nix/agent-options.nix has one option for each, in camelCase.
SETTINGS = {"model": (str,), "allowed_recipients": (list,), "claude_plugins": (list,),
            "claude_marketplaces": (list,), "extra_mcp_servers": (dict,),
            "allowed_bash_patterns": (list,), "allowed_domains": (list, None),
            "cpu_quota": (str, None), "memory_max": (str, None),
            "daily_budget_usd": (float, None)}
CONFIG_MAX_BYTES = 1 << 20     # the host reads no more of an agent.json than this


def load_defaults(path):
    """The settings a new agent starts with, from the operator's file at `path` (the
    NixOS module writes /etc/hyperhive/agent-defaults.json); ValueError saying what is
    wrong when the file is unreadable or not a usable agent.json."""
    try:
        with open(path, "rb") as f:
            data = f.read(CONFIG_MAX_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"agent defaults {path}: {exc.strerror or exc}") from None
    if len(data) > CONFIG_MAX_BYTES:
        raise ValueError(f"agent defaults {path}: larger than {CONFIG_MAX_BYTES} bytes")
    try:
        defaults = json.loads(data.decode("utf-8"), object_pairs_hook=no_repeated_keys)
    except ValueError as exc:
        raise ValueError(f"agent defaults {path}: not valid JSON: {exc}") from None
    if not isinstance(defaults, dict):
        raise ValueError(f"agent defaults {path}: must hold a JSON object")
    problem = settings_problem(defaults)
    if problem:
        raise ValueError(f"agent defaults {path}: {problem}")
    return defaults


def settings_problem(data):
    """What is wrong with an agent.json object (None when nothing): its keys, their
    types and the values the host or the harness would act on."""
    unknown = sorted(set(data) - set(SETTINGS))
    if unknown:
        return (f"`{unknown[0][:60]}` is not a setting (there are: "
                f"{', '.join(SETTINGS)})")
    for key, kinds in SETTINGS.items():
        value = data.get(key)
        if key in data and not (value is None and None in kinds) and \
                not any(_is_a(value, kind) for kind in kinds if kind):
            return f"`{key}` must be a {_kind_name(kinds)}"
    try:
        check_domains(data.get("allowed_domains"))
    except ValueError as exc:
        return str(exc)
    # The harness would leave a bad pattern out; better the operator hears of it now.
    for pattern in data.get("allowed_bash_patterns") or []:
        problem = bash_pattern_problem(pattern)
        if problem:
            return problem
    for name, server in (data.get("extra_mcp_servers") or {}).items():
        problem = server_problem(name, server)
        if problem:
            return problem
    found = limits.problems(data)
    return found[0] if found else budget_problem(data.get("daily_budget_usd"))


def budget_problem(value):
    """What is wrong with a `daily_budget_usd` (None when nothing): a positive number of
    dollars, or null for none."""
    if value is None:
        return None
    if not 0 < value <= MAX_BUDGET_USD:
        return f"`daily_budget_usd` must be a positive number of dollars, at most {MAX_BUDGET_USD:g}"
    return None


# An extra MCP server's keys and what each holds (the NixOS options are camelCase).
SERVER_KEYS = {"command": str, "args": list, "env": dict, "allowed_tools": list}
_SERVER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


def server_problem(name, server):
    """What is wrong with one `extra_mcp_servers` entry; None when nothing."""
    where = f"extra MCP server {name[:64]!r}"
    if not _SERVER_NAME.match(name) or name == "hyperhive":
        return (f"{where}: a server name is 1-64 letters, digits, _ or -, and "
                "`hyperhive` is taken")
    if not isinstance(server, dict) or not isinstance(server.get("command"), str):
        return f"{where} must be an object with a `command` string"
    for key, value in server.items():
        if key not in SERVER_KEYS:
            return f"{where}: `{key[:60]}` is not one of {', '.join(SERVER_KEYS)}"
        if not isinstance(value, SERVER_KEYS[key]):
            return f"{where}: `{key}` must be a {SERVER_KEYS[key].__name__}"
    strings = [*server.get("args", []), *server.get("allowed_tools", []),
               *server.get("env", {}).values()]
    if not all(isinstance(item, str) for item in strings):
        return f"{where}: `args`, `env` values and `allowed_tools` must be strings"
    return None


def _is_a(value, kind):
    if kind is float:       # a JSON number: an int or a float, never true or false
        return isinstance(value, (int, float)) and not isinstance(value, bool) and \
            math.isfinite(value)
    return isinstance(value, kind)


def _kind_name(kinds):
    names = {str: "string", list: "list", dict: "dict", float: "number", None: "null"}
    return " or ".join(names[k] for k in kinds)


def no_repeated_keys(pairs):
    """json.loads's object_pairs_hook: the object as a dict; ValueError when a key repeats."""
    # JSON keeps the last of two equal keys; the operator reading the diff may see the first.
    data = dict(pairs)
    if len(data) < len(pairs):
        seen = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"`{key}` appears more than once in one object")
    return data
