"""Each agent's two git repos: the proposed config (manager edits) and the applied one.

The applied repo is a clone of the proposed one that only the host moves; its
work tree holds the `agent.json` the agent actually runs with (SPEC §8).
"""

import json
import subprocess

DEFAULT_CONFIG = {
    "model": "haiku",
    "allowed_recipients": [],
    "claude_plugins": [],
    "claude_marketplaces": [],
    "extra_mcp_servers": {},
    "allowed_bash_patterns": [],
}
_IDENTITY = ("-c", "user.name=hyperhive", "-c", "user.email=hyperhive@localhost",
             "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false")


class GitError(Exception):
    pass


def git(repo, *args, check=True):
    proc = subprocess.run(["git", *_IDENTITY, "-C", str(repo), *args],
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} failed: {proc.stderr.strip()[:500]}")
    return proc.stdout.strip()


def init(config_repo, applied_repo, defaults=None):
    """Create both repos with an initial agent.json, unless they already exist."""
    if not (config_repo / ".git").exists():
        config_repo.mkdir(parents=True, exist_ok=True)
        git(config_repo, "init", "-q")
        config = {**DEFAULT_CONFIG, **(defaults or {})}
        (config_repo / "agent.json").write_text(json.dumps(config, indent=2) + "\n")
        git(config_repo, "add", "agent.json")
        git(config_repo, "commit", "-q", "-m", "initial agent.json")
    if not (applied_repo / ".git").exists():
        applied_repo.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", str(config_repo), str(applied_repo)],
                       check=True, capture_output=True)
        git(applied_repo, "tag", "deployed/0")
        # The proposed repo sees what is deployed through an `applied` remote.
        git(config_repo, "remote", "add", "applied", str(applied_repo), check=False)


def read_config(applied_repo):
    """The applied agent.json merged over the defaults; defaults when unreadable."""
    try:
        data = json.loads((applied_repo / "agent.json").read_text())
    except (OSError, ValueError):
        return dict(DEFAULT_CONFIG)
    if not isinstance(data, dict):
        return dict(DEFAULT_CONFIG)
    return {**DEFAULT_CONFIG, **data}


def head(repo):
    try:
        return git(repo, "rev-parse", "HEAD")
    except (GitError, OSError):
        return None
