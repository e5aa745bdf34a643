"""What claude runs with, rendered from agent.json and the harness's facts.

Pure functions: they read no file, no environment and no clock beyond what they are
given, so each rendering is tested in-process against exact output. The harness
gathers the facts (real paths, the entry argv, whether bubblewrap can close user
namespaces), calls these, logs the problems they name and writes the files.
"""

import os
import shlex

from . import claude, isolation, permissions, wakespool

BUILTINS = claude.DEFAULT_BUILTINS
MCP_TOOL_TIMEOUT_MS = 240_000
# In the hive dir, first on claude's PATH: `hyperhive` for claude's shell (`hyperhive wake`).
SHELL_BIN_DIR = "bin"
# What the harness's own environment must not hand down to claude: markers of a Claude
# Code that started the harness, and systemd's notify and watchdog channels.
DROPPED_ENV = ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "CLAUDE_CODE_SESSION_ID",
               "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "HYPERHIVE_SOCK")


def mcp_config(entry_argv, name, hive_dir, is_manager, agents_dir, extra_servers):
    """The `--mcp-config` file: our own server first, then agent.json's extra ones."""
    command, *args = entry_argv
    args += ["mcp", "--hive-dir", str(hive_dir)]
    if is_manager:
        args.append("--manager")
    env = {"HYPERHIVE_HIVE_DIR": str(hive_dir), "HYPERHIVE_AGENT": name}
    if is_manager:
        # where the manager sees the agents' repos, for the paths its tools name
        env["HYPERHIVE_AGENTS_DIR"] = agents_dir
    servers = {"hyperhive": {
        "type": "stdio", "command": command, "args": args, "env": env,
        "timeout": MCP_TOOL_TIMEOUT_MS}}
    for key, spec in _extra_servers(extra_servers):
        servers[key] = {"type": "stdio", "command": spec["command"],
                        "args": list(spec.get("args") or []),
                        "env": dict(spec.get("env") or {})}
    return {"mcpServers": servers}


def ignored_servers(extra_servers):
    """agent.json's extra servers that cannot be started: mcp_config leaves them out."""
    servers = extra_servers if isinstance(extra_servers, dict) else {}
    kept = dict(_extra_servers(servers))
    return [key for key in servers if key not in kept]


def _extra_servers(extra_servers):
    for key, spec in (extra_servers or {}).items():
        if key != "hyperhive" and isinstance(spec, dict) and "command" in spec:
            yield key, spec


def rule_dirs(state_dir, is_manager, agents_dir):
    """Where Read/Edit/Write may go: the state dir; the manager also edits config repos.

    Both paths real (symlinks resolved): a rule names the path claude will see.
    """
    dirs = [state_dir]
    if is_manager:
        dirs.append(os.path.join(agents_dir, "*", "config"))
    return dirs


def write_dirs(state_dir, config_repos=()):
    """Where the sandbox lets Bash write: the state dir and the config repos given.

    The sandbox binds real paths and expands no `*`, so the manager's harness lists
    the config repos that exist now (and rewrites the settings before each turn).
    """
    return [state_dir, *sorted(str(p) for p in config_repos)]


def allowed_rules(config, dirs, builtins=BUILTINS):
    """Exactly agent.json's permissions (SPEC §12), for `--allowedTools` and the settings."""
    return permissions.allowed_rules(builtins, config.get("allowed_bash_patterns"), dirs,
                                     permissions.mcp_rules(config.get("extra_mcp_servers")))


def allowed_domains(config):
    """(domains, problems): the sandbox's network, bad entries dropped and named."""
    return permissions.usable_domains(config.get("allowed_domains"))


def bash_problems(config):
    """One sentence per Bash pattern of agent.json that cannot become a rule."""
    patterns = config.get("allowed_bash_patterns") or []
    found = (permissions.bash_pattern_problem(p)
             for p in (patterns if isinstance(patterns, list) else [patterns]))
    return [problem for problem in found if problem]


def plugins(config):
    listed = config.get("claude_plugins") or []
    return listed if isinstance(listed, list) else []


def settings(config, dirs, writable, hidden_dirs, unix_sockets):
    """The `--settings` file: `dirs` for the rules, `writable` for the sandbox."""
    domains, _ = allowed_domains(config)
    return permissions.settings(allowed_rules(config, dirs), writable, domains,
                                plugins(config), hidden_dirs=hidden_dirs,
                                unix_sockets=unix_sockets)


def settings_problems(config):
    """What settings() leaves out of agent.json, one sentence each, for the log."""
    return ([f"agent.json: {p}; left out of the Bash rules" for p in bash_problems(config)]
            + [f"agent.json: {p}; left out of the sandbox's network"
               for p in allowed_domains(config)[1]])


def claude_env(environ, name, hive_dir, state_dir):
    """Claude's environment: the harness's own, less what is not claude's, plus its places."""
    env = {k: v for k, v in environ.items() if k not in DROPPED_ENV}
    env.setdefault("DISABLE_AUTOUPDATER", "1")
    # `hyperhive wake` from claude's shell finds the harness socket and the command...
    env["HYPERHIVE_HIVE_DIR"] = str(hive_dir)
    # ...or, where its sandbox keeps unix sockets closed, the spool the harness watches.
    env["HYPERHIVE_WAKE_SPOOL"] = os.path.join(str(state_dir), wakespool.SPOOL_DIR)
    env["PATH"] = os.pathsep.join(
        [os.path.join(str(hive_dir), SHELL_BIN_DIR), env.get("PATH") or "/usr/bin:/bin"])
    # The agent's uid has no passwd entry: these say who and where it is.
    env.setdefault("USER", name)
    env.setdefault("LOGNAME", name)
    return env


def as_claude(argv, claude_ids):
    """A command line that runs as claude's uid (when the harness has one for it)."""
    if claude_ids is None:
        return list(argv)
    return [*isolation.setpriv_argv(*claude_ids), *argv]


def shell_script(entry_argv):
    """`hyperhive` on claude's PATH: runs this same hyperhive, wherever it lives."""
    return ("#!/bin/sh\n# Written by the hyperhive harness at each start.\n"
            f"exec {shlex.join(entry_argv)} \"$@\"\n")
