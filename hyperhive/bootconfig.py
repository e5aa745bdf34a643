"""The harness's agent.json and environment: loading them, and judging them on this machine.

The host checks agent.json's types when a commit is approved (repos.check_config);
what only the agent's own machine can tell (does a command exist, can bubblewrap close
user namespaces) is judged here, at boot.
"""

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

from . import agentconfig

# The harness will not run its agent.json: the host rolls a new config back on it.
EXIT_CONFIG_REFUSED = 3
CONFIG_ERROR_CHARS = 500     # of the sentence that says why (the host takes 2,000 bytes)


def load_config(path):
    """The applied agent.json at `path` (HYPERHIVE_AGENT_CONFIG); {} when unreadable."""
    try:
        data = json.loads(Path(path).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def read_env_file(path):
    """A container's harness takes its environment (credentials too) from a file, not
    argv: the variables in it, which the entry adds before it reads its settings."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return data


def config_problem(config, path, state_dir):
    """What in agent.json this harness cannot run, as a sentence; None when all is well.

    Whether an extra MCP server's command exists is a fact of the agent's own machine
    (in a container, of the packages its agent.nix installs), so it is judged here, at
    boot; claude would otherwise start without the server's tools and say nothing.
    """
    servers = config.get("extra_mcp_servers")
    servers = {} if servers is None else servers
    if not isinstance(servers, dict):
        return "`extra_mcp_servers` must be an object of servers"
    for key, spec in servers.items():
        problem = agentconfig.server_problem(key, spec)     # the host's check at approval
        if problem:
            return problem
        if not _runnable(spec["command"], path, state_dir):
            return (f"extra MCP server {key[:64]!r}: its command {spec['command'][:200]!r} "
                    "is not an executable file here, nor a program on the agent's PATH")
    return None


def _runnable(command, path, state_dir):
    if "/" not in command:
        return shutil.which(command, path=path) is not None
    full = Path(state_dir) / command      # claude runs in the state dir
    return full.is_file() and os.access(full, os.X_OK)


def bwrap_disables_userns(bwrap, prefix=()):
    """Whether this bubblewrap, run through `prefix` (claude's uid), really forbids user
    namespaces in its sandbox: it needs 0.8.0 and a writable /proc/sys, which a
    systemd-nspawn container does not have."""
    try:
        if bwrap is None or os.stat(bwrap).st_mode & stat.S_ISUID:
            return False
        trial = subprocess.run([*prefix, bwrap, "--ro-bind", "/", "/", "--unshare-user",
                                "--disable-userns", "--", "/bin/true"],
                               capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return trial.returncode == 0
