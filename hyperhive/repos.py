"""Each agent's two git repos: the proposed config (manager edits) and the applied one.

The applied repo is a clone of the proposed one that only the host moves; its
work tree holds the `agent.json` the agent actually runs with (SPEC §8).
"""

import json
import subprocess

from .permissions import DEFAULT_ALLOWED_DOMAINS, check_domains

DEFAULT_CONFIG = {
    "model": "haiku",
    "allowed_recipients": [],
    "claude_plugins": [],
    "claude_marketplaces": [],
    "extra_mcp_servers": {},
    "allowed_bash_patterns": [],
    "allowed_domains": list(DEFAULT_ALLOWED_DOMAINS),
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


MAX_DIFF = 200_000


def fetch_proposal(config_repo, applied_repo, commit_ref):
    """Bring a commit of the proposed repo into the applied one; return (sha, diff).

    The commit must exist in the proposed repo and descend from what is applied, so
    that approving it is a fast-forward.
    """
    if not isinstance(commit_ref, str) or not commit_ref.strip() or commit_ref.startswith("-"):
        raise GitError("commit_ref must name a commit (a sha, a branch or HEAD)")
    try:
        sha = git(config_repo, "rev-parse", "--verify", "--quiet", f"{commit_ref}^{{commit}}")
    except GitError:
        raise GitError(f"there is no commit {commit_ref[:60]!r} in the proposed repo") from None
    # A bare sha cannot be fetched by name; fetching every branch brings its objects.
    git(applied_repo, "fetch", "-q", str(config_repo), "+refs/heads/*:refs/proposed/*")
    if git(applied_repo, "cat-file", "-t", sha, check=False) != "commit":
        raise GitError(f"commit {sha[:12]} is not on any branch of the proposed repo")
    ancestor = subprocess.run(["git", "-C", str(applied_repo), "merge-base", "--is-ancestor",
                               "HEAD", sha]).returncode == 0
    if not ancestor:
        raise GitError(f"commit {sha[:12]} does not build on the applied config; rebase it "
                       "on the `applied/main` branch first")
    diff = git(applied_repo, "diff", "HEAD", sha)
    if len(diff) > MAX_DIFF:
        diff = diff[:MAX_DIFF] + "\n… (diff cut)"
    return sha, diff


def tag(repo, name, target="HEAD", message=None):
    if message:
        git(repo, "tag", "-f", "-a", name, "-m", message, target)
    else:
        git(repo, "tag", "-f", name, target)


def fast_forward(applied_repo, sha):
    """Move the applied repo to `sha`; return the sha it was at, for a rollback."""
    before = head(applied_repo)
    git(applied_repo, "merge", "--ff-only", "-q", sha)
    return before


def roll_back(applied_repo, sha):
    git(applied_repo, "reset", "--hard", "-q", sha)


def check_config(applied_repo):
    """Raise GitError when the applied agent.json is not a usable config."""
    try:
        data = json.loads((applied_repo / "agent.json").read_text())
    except (OSError, ValueError) as exc:
        raise GitError(f"agent.json is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise GitError("agent.json must hold a JSON object")
    kinds = {"model": str, "allowed_recipients": list, "claude_plugins": list,
             "claude_marketplaces": list, "extra_mcp_servers": dict,
             "allowed_bash_patterns": list}
    for key, kind in kinds.items():
        if key in data and not isinstance(data[key], kind):
            raise GitError(f"agent.json: `{key}` must be a {kind.__name__}")
    try:
        check_domains(data.get("allowed_domains"))
    except ValueError as exc:
        raise GitError(f"agent.json: {exc}") from None
