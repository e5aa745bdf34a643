"""What claude may do: its allow rules, its settings and the sandbox its Bash runs in.

Claude's permissions are exactly agent.json's (SPEC §12). `allowed_rules` is the one place
the rules are built; the harness passes that same list in `--allowedTools` and in the
settings' `permissions.allow`. claude loads no settings file it could write itself (see
`claude.build_argv`), so nothing widens them between turns.

Bash runs inside Claude Code's own sandbox (bubblewrap): no network but the domains of
`allowed_domains`, no writes outside the agent's own dirs. Read, Edit and Write run inside
claude's process, where the sandbox does not reach: path rules hold them to the same dirs,
and `defaultMode: dontAsk` refuses whatever no rule allows.
"""

import ipaddress
import re

# Tools claude never gets, whatever agent.json says: the web goes through sandboxed
# commands and their domain list, and sub-agents would run outside this accounting.
DENIED_TOOLS = ("WebFetch", "WebSearch", "Task")

# Where sandboxed commands may connect when agent.json names no list (`allowed_domains`
# absent or null): the code forges and package registries an agent fetches code and
# packages from. Each name is also a way to send data out, so the list stays short and
# names hosts rather than whole domains; `[]` in agent.json turns the network off.
DEFAULT_ALLOWED_DOMAINS = (
    "github.com", "api.github.com", "codeload.github.com",
    "raw.githubusercontent.com", "objects.githubusercontent.com",
    "gitlab.com", "codeberg.org",
    "pypi.org", "files.pythonhosted.org",
    "registry.npmjs.org",
    "crates.io", "index.crates.io", "static.crates.io",
    "proxy.golang.org", "sum.golang.org",
)
# The variables that may hold claude's own login. Sandboxed commands never see them: a
# hostile command could otherwise send the login out through an allowed domain.
CREDENTIAL_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
MAX_DOMAINS = 100
MAX_BASH_PATTERN = 200

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# At least two labels, and a last label (the top-level domain) that starts with a letter:
# that keeps out single names such as `localhost` and every spelling of an IPv4 address
# (`127.1`, `0x7f.0.0.1`, `2130706433.`).
_DOMAIN_RE = re.compile(rf"^(?:\*\.)?(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?$")
# Names that mean this machine or its local network, never a public host.
_LOCAL_SUFFIXES = ("localhost", "localdomain", "local", "internal", "home.arpa", "lan")
_IPV6_ISH_RE = re.compile(r"^\[?[0-9a-fA-F:.]+(%[^\]]*)?\]?$")
# Paths the harness turns into rules: plain absolute paths, or with a `*` for one name.
_RULE_PATH_RE = re.compile(r"^(/[A-Za-z0-9._*-]+)+$")

READ_TOOLS = ("Read", "Glob", "Grep")       # held by Read(<path>) rules
EDIT_TOOLS = ("Edit", "Write")              # held by Edit(<path>) rules
BASH = "Bash"
HYPERHIVE_RULE = "mcp__hyperhive"


def domain_problem(domain):
    """Why `domain` cannot be on a sandbox network allow-list, as a sentence; None if it can."""
    if not isinstance(domain, str) or not domain:
        return f"{domain!r} is not a domain name"
    shown = repr(domain[:80])
    if _is_ip_literal(domain):
        return (f"{shown} is an IP address: name a public domain instead (addresses, and "
                "loopback and private ones above all, are never allowed)")
    if domain.strip("*.") == "":
        return f"{shown} would match every host"
    bare = domain.removeprefix("*.")
    if any(bare.lower() == s or bare.lower().endswith("." + s) for s in _LOCAL_SUFFIXES):
        return f"{shown} names this machine or its local network, which agents never reach"
    if domain.startswith("*.") and "." not in bare:
        return f"{shown} would match a whole top-level domain"
    if not _DOMAIN_RE.match(domain):
        return (f"{shown} is not a domain name such as `pypi.org` or `*.example.com` "
                "(lowercase, at least two labels, `*.` only at the start, no port)")
    return None


def check_domains(value):
    """Raise ValueError with a sentence unless `value` is a usable `allowed_domains`.

    None means the default list.
    """
    if value is None:
        return
    if not isinstance(value, list):
        raise ValueError("`allowed_domains` must be a list of domain names (or null for "
                         "the default list)")
    if len(value) > MAX_DOMAINS:
        raise ValueError(f"`allowed_domains` has {len(value)} entries; at most {MAX_DOMAINS}")
    for domain in value:
        problem = domain_problem(domain)
        if problem:
            raise ValueError(f"`allowed_domains`: {problem}")


def usable_domains(value):
    """(domains, problems): the list the sandbox gets for agent.json's `allowed_domains`.

    The harness's own check, for a config that never went through check_config: bad
    entries are dropped (and reported), never widened into something else.
    """
    if value is None:
        return list(DEFAULT_ALLOWED_DOMAINS), []
    if not isinstance(value, list):
        return [], ["`allowed_domains` is not a list: the agent gets no network"]
    kept, problems = [], []
    for domain in value:
        problem = domain_problem(domain)
        if problem:
            problems.append(problem)
        else:
            kept.append(domain)
    return kept[:MAX_DOMAINS], problems


def bash_pattern_problem(pattern):
    """Why a Bash pattern cannot become a `Bash(<pattern>)` rule; None if it can.

    A parenthesis could close the rule early and smuggle in another one (`x),Bash,Read(`
    would allow all of Bash).
    """
    if not isinstance(pattern, str) or not pattern.strip():
        return f"Bash pattern {pattern!r} is not a command pattern"
    if len(pattern) > MAX_BASH_PATTERN or any(c in pattern for c in "()") or \
            not pattern.isprintable():
        return (f"Bash pattern {pattern[:80]!r} may not hold parentheses or control "
                f"characters, nor be longer than {MAX_BASH_PATTERN} characters")
    return None


def mcp_rules(extra_servers):
    """The hyperhive server's rule, then each extra server's (its `allowed_tools`, or all)."""
    rules = [HYPERHIVE_RULE]
    servers = extra_servers if isinstance(extra_servers, dict) else {}
    for key, spec in servers.items():
        if key == "hyperhive" or not isinstance(spec, dict) or "command" not in spec:
            continue   # not started either (claudeconfig.mcp_config)
        tools = spec.get("allowed_tools") or spec.get("allowedTools") or ["*"]
        rules += [f"mcp__{key}" if t == "*" else f"mcp__{key}__{t}" for t in tools]
    return rules


def allowed_rules(builtins, bash_patterns=(), dirs=(), mcp=(HYPERHIVE_RULE,)):
    """Exactly the rules claude runs without asking.

    `Bash` becomes `Bash(<pattern>)` for each of agent.json's patterns when there are any
    (a pattern that could not be a rule is left out, never replaced by all of Bash).
    Read/Glob/Grep and Edit/Write are allowed only under `dirs`, absolute paths (a `*`
    stands for one name).
    """
    rules = []
    for tool in builtins:
        if tool == BASH:
            rules += _bash_rules(bash_patterns)
        elif tool not in READ_TOOLS + EDIT_TOOLS:
            rules.append(tool)
    if any(t in READ_TOOLS for t in builtins):
        rules += [f"Read({_rule_path(d)})" for d in dirs]
    if any(t in EDIT_TOOLS for t in builtins):
        rules += [f"Edit({_rule_path(d)})" for d in dirs]
    return rules + list(mcp)


def sandbox(write_dirs, domains, hidden_dirs=(), unix_sockets=True):
    """Claude Code's `sandbox` settings: every Bash command inside bubblewrap (SPEC §12).

    `hidden_dirs` cannot even be read from inside (claude's config dir, which holds its
    login). `unix_sockets` lets Bash connect unix sockets, for `hyperhive wake` on the
    harness socket: Claude Code can allow them on Linux only all together (its per-path
    `allowUnixSockets` is macOS only), so file permissions decide which ones answer, as
    they already do for claude's own process.
    """
    return {
        "enabled": True,
        # A missing bubblewrap stops claude at start, never an unsandboxed Bash.
        "failIfUnavailable": True,
        # The `dangerouslyDisableSandbox` parameter is ignored.
        "allowUnsandboxedCommands": False,
        # True would run every sandboxed command without asking, so `Bash(<pattern>)`
        # rules would no longer narrow anything (measured with claude 2.1.330).
        "autoAllowBashIfSandboxed": False,
        "network": {"allowedDomains": list(domains), "strictAllowlist": True,
                    "allowAllUnixSockets": bool(unix_sockets)},
        "filesystem": {"allowWrite": [str(d) for d in write_dirs],
                       "denyRead": [str(d) for d in hidden_dirs]},
        "credentials": {"envVars": [{"name": n, "mode": "deny"} for n in CREDENTIAL_ENV]},
    }


def settings(rules, write_dirs, domains, plugins=(), hidden_dirs=(), unix_sockets=True):
    """The settings file claude runs with, the only one it loads."""
    return {
        "permissions": {"allow": list(rules), "deny": list(DENIED_TOOLS),
                        "defaultMode": "dontAsk"},
        "sandbox": sandbox(write_dirs, domains, hidden_dirs, unix_sockets),
        # `claude plugin install` enables a plugin in the user settings, which claude no
        # longer loads: the plugins agent.json names are enabled here instead.
        "enabledPlugins": {p: True for p in plugins if isinstance(p, str)},
        "autoCompactEnabled": False,
        "autoMemoryEnabled": False,
    }


def _bash_rules(patterns):
    if not patterns:
        return [BASH]
    if not isinstance(patterns, list):
        return []
    return [f"Bash({p})" for p in patterns if bash_pattern_problem(p) is None]


def _rule_path(path):
    path = str(path).rstrip("/")
    if not _RULE_PATH_RE.match(path):
        raise ValueError(f"{path!r} cannot be named in a permission rule: use an absolute "
                         "path of letters, digits, '.', '_', '-' (and '*' for one name)")
    # `//` starts an absolute path in Claude Code's rules; `/x` would be relative to
    # the settings file.
    return f"/{path}/**"


def _is_ip_literal(text):
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        # an IPv6 spelling ipaddress refuses (a zone, brackets) is still no domain
        return ":" in text and _IPV6_ISH_RE.match(text) is not None
