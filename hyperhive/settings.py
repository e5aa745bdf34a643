"""Every setting hyperhive reads at start, declared once: its environment variable, its
flag, its default, how its text is read and what it is for.

A process builds one `Settings` at start (`load(environ, flags)`): a flag given on the
command line wins over the environment, the environment over the default. The object
is passed to what needs it; nothing else in the package reads the environment. Those
who hand an environment on to a child take it from `Settings.environ`. The README's
settings table is `markdown()` of these declarations, and a test keeps the two the same.

A value that does not parse is either refused at start (`on_bad="stop"`: the process
says which and exits) or replaced by its default with a warning in the log, for the
numbers where a typo should not keep an agent from running.

Only the standard library here: `hyperhive mcp` and `wake` build their settings too,
and must start light.
"""

import json
import logging
import os
import shlex
from dataclasses import dataclass
from types import MappingProxyType

log = logging.getLogger(__name__)

# The agents' page ports run from the base to BASE+999 (see lifecycle's port choice).
AGENT_PORT_SPAN = 999


class BadSetting(ValueError):
    """A setting whose text cannot be used; the process stops with this message."""


# Parsers: text -> value, or ValueError saying what the text must be. ###############

def text(value):
    return value.strip()


def word(value):
    return value.strip().lower()


def path(value):
    return os.path.abspath(value.strip())


def number(value):
    parsed = float(value)
    if not parsed >= 0:                    # negative, or NaN
        raise ValueError("must be a number, zero or more")
    return parsed


def usd_amount(value):
    parsed = float(value)
    if not 0 < parsed <= 1_000_000:        # NaN fails this too
        raise ValueError("must be a positive number of US dollars, at most 1000000")
    return parsed


def whole_number(value):
    parsed = int(value)
    if parsed < 0:
        raise ValueError("must be a whole number, zero or more")
    return parsed


def attempts(value):
    parsed = int(value)
    if not 1 <= parsed <= 20:       # bounds.MAX_TURN_ATTEMPTS: the host takes no more
        raise ValueError("must be a whole number from 1 to 20")
    return parsed


def port_base(value):
    highest = 65535 - AGENT_PORT_SPAN
    if not value.strip().isdigit() or not 1 <= int(value) <= highest:
        raise ValueError(f"must be a port from 1 to {highest}, leaving room for "
                         f"BASE+{AGENT_PORT_SPAN}")
    return int(value)


def command(value):
    parsed = tuple(shlex.split(value))
    if not parsed:
        raise ValueError("must name a command")
    return parsed


def names(value):
    return frozenset(h.strip().lower() for h in value.split(",") if h.strip())


def json_object(value):
    parsed = json.loads(value)
    if not isinstance(parsed, dict):
        raise ValueError("must be a JSON object")
    return parsed


def commit_sha(value):
    sha = value.strip()
    if len(sha) != 40 or any(c not in "0123456789abcdef" for c in sha):
        raise ValueError("must be a commit's 40-hex sha")
    return sha


@dataclass(frozen=True)
class Setting:
    name: str                # the attribute of Settings
    env: str                 # the environment variable
    default: object
    parse: object            # text -> value; raises ValueError
    doc: str
    flag: str = None         # the command-line flag that sets it too
    on_bad: str = "warn"     # "warn": log and use the default; "stop": refuse to start
    given_by: str = "operator"   # the operator, the host (for its children) or systemd


SETTINGS = (
    # -- the operator's ---------------------------------------------------------
    Setting("claude_bin", "HYPERHIVE_CLAUDE", "claude", text,
            "the claude binary", flag="--claude-bin"),
    Setting("log_target", "HYPERHIVE_LOG", "journal", word,
            "`stderr` logs to stderr instead of journald"),
    Setting("journal_dir", "HYPERHIVE_JOURNAL_DIR", None, path,
            "where the host reads the journal (journald's files), for a journald that "
            "keeps them elsewhere than `/run/log/journal` and `/var/log/journal`"),
    Setting("login_cmd", "HYPERHIVE_LOGIN_CMD", None, command,
            "the login command the agent page runs (default `<claude binary> auth login`)",
            on_bad="stop"),
    Setting("rate_limit_sleep", "HYPERHIVE_RATE_LIMIT_SLEEP", 300.0, number,
            "seconds a rate-limited agent rests before it retries when claude names no reset "
            "time (an API key's limits); with a reset it rests until 5 s past it, at most a day"),
    Setting("turn_attempts", "HYPERHIVE_TURN_ATTEMPTS", 3, attempts,
            "turns a message is given before it goes to the failed list (1 to 20)"),
    Setting("turn_retry_seconds", "HYPERHIVE_TURN_RETRY_SECONDS", 30.0, number,
            "seconds an agent rests after a failed turn before it tries the message again, "
            "doubling after each further failure"),
    Setting("settle_seconds", "HYPERHIVE_SETTLE_SECONDS", 30.0, number,
            "seconds an agent must stay up on an approved config before it counts as "
            "deployed"),
    Setting("notes_limit", "HYPERHIVE_NOTES_LIMIT", 24 * 1024, whole_number,
            "bytes of `/state/notes.md` past which the harness has claude compact it; "
            "0 = never"),
    Setting("retention_days", "HYPERHIVE_RETENTION_DAYS", 90.0, number,
            "days old messages, approvals, questions, reminders, events and turn stats "
            "are kept; 0 = forever"),
    Setting("daily_budget_usd", "HYPERHIVE_DAILY_BUDGET_USD", None, usd_amount,
            "what an agent may spend a day (US dollars, as claude reports its turns' "
            "costs) before it is handed no more messages; an agent's own "
            "`daily_budget_usd` wins; unset: no budget", on_bad="stop"),
    Setting("web_hosts", "HYPERHIVE_WEB_HOSTS", frozenset(), names,
            "extra host names the pages answer to (comma-separated), for a proxy"),
    Setting("static_dir", "HYPERHIVE_STATIC", None, text,
            "serve the pages' CSS, JS and `vendor/` from this dir instead of the "
            "package's own"),
    Setting("sse_keepalive", "HYPERHIVE_SSE_KEEPALIVE", 15.0, number,
            "seconds between keep-alive comments on an idle event stream (at least 0.05)"),
    Setting("agent_port_base", "HYPERHIVE_AGENT_PORT_BASE", 8000, port_base,
            "the manager's page port; other agents get BASE+100..BASE+999",
            flag="--agent-port-base", on_bad="stop"),
    Setting("agent_defaults", "HYPERHIVE_AGENT_DEFAULTS", None, text,
            "a JSON file of `agent.json` settings every new agent starts with; a bad "
            "file stops the host at start", flag="--agent-defaults"),
    Setting("flake", "HYPERHIVE_FLAKE", None, text,
            "`nixos` backend: the hyperhive flake every agent's container flake uses "
            "(the NixOS module sets it)"),
    Setting("flake_inputs", "HYPERHIVE_FLAKE_INPUTS", None, json_object,
            "`nixos` backend: a JSON object of extra flake inputs (name: flake URL) for "
            "every agent's container flake", on_bad="stop"),
    Setting("nixos_unit_dir", "HYPERHIVE_NIXOS_UNIT_DIR", "/run/systemd/system", text,
            "`nixos` backend: where the per-agent limits drop-ins are written"),
    Setting("nixos_conf_dir", "HYPERHIVE_NIXOS_CONF_DIR", "/etc/nixos-containers", text,
            "`nixos` backend: where nixos-container keeps the containers' conf files"),
    # -- set by the host for the processes it starts ---------------------------
    Setting("hive_dir", "HYPERHIVE_HIVE_DIR", "/run/hive", text,
            "the agent's hive dir (its sockets), for `hyperhive mcp` and `wake`",
            flag="--hive-dir", given_by="host"),
    Setting("agent", "HYPERHIVE_AGENT", None, text,
            "the agent an MCP server belongs to, for its log records", given_by="host"),
    Setting("sock", "HYPERHIVE_SOCK", None, text,
            "the harness's MCP socket, where it is not `<hive dir>/mcp.sock`",
            given_by="host"),
    Setting("wake_spool", "HYPERHIVE_WAKE_SPOOL", None, text,
            "where `wake` leaves its message when the sandbox forbids sockets",
            given_by="host"),
    Setting("agent_config", "HYPERHIVE_AGENT_CONFIG", "/etc/hyperhive/agent.json", text,
            "the agent's applied `agent.json`", given_by="host"),
    Setting("agents_dir", "HYPERHIVE_AGENTS_DIR", "/agents", text,
            "the manager's view of every agent's dirs (their config repos)", given_by="host"),
    Setting("config_sha", "HYPERHIVE_CONFIG_SHA", None, commit_sha,
            "the applied config's commit a harness was started on", given_by="host"),
    Setting("dashboard_url", "HYPERHIVE_DASHBOARD_URL", None, text,
            "the dashboard's address, for the agent page's link back", given_by="host"),
    # -- set by systemd ----------------------------------------------------------
    Setting("journal_stream", "JOURNAL_STREAM", None, text,
            "stderr is journald's stream", given_by="systemd"),
    Setting("notify_socket", "NOTIFY_SOCKET", None, text,
            "where readiness and watchdog pings go", given_by="systemd"),
    Setting("watchdog_usec", "WATCHDOG_USEC", None, whole_number,
            "the watchdog interval", given_by="systemd"),
    Setting("watchdog_pid", "WATCHDOG_PID", None, whole_number,
            "the process the watchdog is meant for", given_by="systemd"),
)

BY_NAME = {s.name: s for s in SETTINGS}
ENV_NAMES = frozenset(s.env for s in SETTINGS)


class Settings:
    """The values of every setting for one process, and the environment they were read
    from (for the children it hands it on to); read-only once built."""

    def __init__(self, values, environ):
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "environ", MappingProxyType(dict(environ)))

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no setting named {name!r}") from None

    def __setattr__(self, name, value):
        raise AttributeError("settings are read-only; build new ones with replace()")

    def replace(self, **values):
        unknown = set(values) - set(BY_NAME)
        if unknown:
            raise AttributeError(f"no setting named {sorted(unknown)[0]!r}")
        return Settings({**self._values, **values}, self.environ)


def load(environ=None, flags=None):
    """Settings from `flags` (a mapping of command-line values by setting name; None
    means not given), then `environ` (this process's environment when None), then the
    defaults. BadSetting names the first value that must not be guessed."""
    environ = dict(os.environ if environ is None else environ)
    flags = flags or {}
    return Settings({s.name: _value(s, environ, flags) for s in SETTINGS}, environ)


def defaults():
    """Every setting at its default, with an empty environment."""
    return Settings({s.name: s.default for s in SETTINGS}, {})


def take_environment(variables):
    """Add `variables` to this process's environment, before its settings are loaded
    (a container's harness gets its environment from a file, not from its parent)."""
    os.environ.update({str(k): str(v) for k, v in variables.items()})


def _value(setting, environ, flags):
    if flags.get(setting.name) is not None:
        return flags[setting.name]
    raw = environ.get(setting.env, "")
    if not raw.strip():
        return setting.default
    try:
        return setting.parse(raw)
    except ValueError as exc:
        if setting.on_bad == "stop":
            raise BadSetting(f"{setting.env}={raw[:200]!r} cannot be used: {exc}") from None
        log.warning("%s=%r cannot be used (%s); using %r", setting.env, raw[:200], exc,
                    setting.default)
        return setting.default


# The README's table ##############################################################

def markdown():
    """The README's settings tables: what the operator sets, then what the hive sets."""
    def rows(who):
        return [f"| `{s.env}` | {s.doc}{_default_text(s)}{_flag_text(s)} |"
                for s in SETTINGS if s.given_by == who]
    head = ["| variable | what |", "|---|---|"]
    return "\n".join(head + rows("operator")
                     + ["", "Set by the host for the processes it starts (an operator "
                        "has no need to set them):", ""]
                     + head + rows("host")) + "\n"


def _default_text(setting):
    default = setting.default
    if default is None or isinstance(default, (tuple, frozenset)):
        return ""
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    return f" (default `{default}`)"


def _flag_text(setting):
    return f"; also `{setting.flag}`" if setting.flag else ""
