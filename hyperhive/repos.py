"""Each agent's two git repos: the proposed config (manager edits) and the applied one.

The applied repo only the host moves; its work tree holds the `agent.json` the
agent actually runs with (SPEC §8). The proposed repo is writable by the
manager, so the host treats it as hostile: it never runs git *in* it as root
(its config and hooks would run with the host's powers). Commits cross over by
one fetch whose upload side runs as the repo's owner, and everything after that
(resolving the ref, the diff, the checkout) happens in the applied repo, where
attributes, drivers and symlinks are made inert first.
"""

import hashlib
import json
import os
import re
import shlex
import stat
import subprocess
import tempfile
from dataclasses import dataclass

from . import isolation, safefs
from .agentconfig import CONFIG_MAX_BYTES, DEFAULT_CONFIG, no_repeated_keys, settings_problem
from .errors import HiveError

_IDENTITY = ("-c", "user.name=hyperhive", "-c", "user.email=hyperhive@localhost",
             "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false")

DIFF_SHOWN_CHARS = 200_000     # what pages, `pending` and events carry of a diff
DIFF_MAX_BYTES = 4 << 20       # a proposal whose whole diff is larger is refused
GIT_TIMEOUT = 120              # seconds for one git command over the proposed repo

# The files the host reads from the applied work tree; each must be a plain blob.
CONFIG_FILES = ("agent.json", "agent.nix")
_REGULAR_MODES = ("100644", "100755")

# `$GIT_DIR/info/attributes` outranks every `.gitattributes` in a tree, so a
# committed one cannot turn a file binary in the diff, run a filter or re-encode
# it on checkout: the work tree holds exactly the bytes the diff showed.
_INERT_ATTRIBUTES = "* diff -text -filter -ident -merge !eol !working-tree-encoding\n"
# On checkout a committed symlink becomes a plain file holding the link text.
_APPLIED_SETTINGS = (("core.symlinks", "false"), ("core.attributesFile", "/dev/null"))
# Diff options and settings that keep attributes and drivers from changing what is shown.
_DIFF_CONFIG = ("-c", "core.attributesFile=/dev/null", "-c", "diff.external=")
_DIFF_FLAGS = ("--text", "--no-textconv", "--no-ext-diff", "--no-color")

_SHA = re.compile(r"[0-9a-f]{4,40}\Z")
_BRANCH = re.compile(r"(?!.*\.\.)(?!.*//)[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}\Z")
# Characters that would let a diff look other than it is (a carriage return
# drawing over a line, terminal escapes, bidi overrides, zero-width marks).
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e"
                        "\u2060-\u2069\ufeff]")


class GitError(Exception):
    pass


@dataclass(frozen=True)
class Proposal:
    """A commit fetched from the proposed repo, with what the operator is shown of it."""
    sha: str
    stat: str      # `git diff --stat --summary`: files, lines added and removed, new modes
    diff: str      # the whole diff, control characters made visible


def git(repo, *args, check=True, timeout=GIT_TIMEOUT, as_user=None):
    """Run git in `repo`; `as_user` (uid, gid) drops to that user with none of our config."""
    try:
        proc = subprocess.run([*_as(as_user), "git", *_IDENTITY, "-C", str(repo), *args],
                              capture_output=True, text=True, errors="backslashreplace",
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {' '.join(args[:2])} took over {timeout} seconds") from None
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} failed: {proc.stderr.strip()[:500]}")
    return proc.stdout.strip()


def init(config_repo, applied_repo, defaults=None):
    """Create both repos with an initial agent.json, unless they already exist.

    The applied repo is made by the host from the defaults; the proposed one is
    a copy of it. A proposed repo that is already there (left by the manager)
    is never the source of the applied config: its history then simply does not
    build on the applied one, and proposals from it are refused.
    """
    if not (applied_repo / ".git").exists():
        applied_repo.mkdir(parents=True, exist_ok=True)
        git(applied_repo, "init", "-q")
        config = {**DEFAULT_CONFIG, **(defaults or {})}
        (applied_repo / "agent.json").write_text(json.dumps(config, indent=2) + "\n")
        git(applied_repo, "add", "agent.json")
        git(applied_repo, "commit", "-q", "-m", "initial agent.json")
        git(applied_repo, "tag", "deployed/0")
    harden(applied_repo)
    if not (config_repo / ".git").exists():
        config_repo.parent.mkdir(parents=True, exist_ok=True)
        # No hardlinks: the proposed repo's files must not be the applied repo's files.
        # The proposed repo sees what is deployed through its `applied` remote.
        subprocess.run(["git", "clone", "-q", "--no-hardlinks", "-o", "applied",
                        str(applied_repo), str(config_repo)], check=True, capture_output=True)


def harden(applied_repo):
    """Make attributes and symlinks in fetched commits inert in the applied repo; idempotent."""
    for key, value in _APPLIED_SETTINGS:
        git(applied_repo, "config", key, value)
    info = applied_repo / ".git" / "info"
    info.mkdir(exist_ok=True)
    (info / "attributes").write_text(_INERT_ATTRIBUTES)


def read_config(applied_repo):
    """The applied agent.json merged over the defaults; defaults when unreadable."""
    try:
        data = json.loads(_read_agent_json(applied_repo))
    except (OSError, ValueError):
        return dict(DEFAULT_CONFIG)
    if not isinstance(data, dict):
        return dict(DEFAULT_CONFIG)
    return {**DEFAULT_CONFIG, **data}


def _read_agent_json(applied_repo):
    """The applied work tree's agent.json, never through a link; ValueError or OSError
    when it is not a regular UTF-8 file of at most CONFIG_MAX_BYTES."""
    try:
        data = safefs.read_bytes(applied_repo, "agent.json", limit=CONFIG_MAX_BYTES)
    except HiveError as exc:
        raise ValueError(exc.message) from None
    if data is None:
        raise FileNotFoundError("there is no agent.json")
    return data.decode("utf-8")


def _committed_agent_json(applied_repo, rev):
    """agent.json as committed at `rev`; ValueError when it is over CONFIG_MAX_BYTES or
    not UTF-8 (its kind, a regular file, is _check_tree's)."""
    size = git(applied_repo, "cat-file", "-s", f"{rev}:agent.json")
    if int(size) > CONFIG_MAX_BYTES:
        raise ValueError(f"agent.json is over {CONFIG_MAX_BYTES} bytes")
    proc = subprocess.run(["git", *_IDENTITY, "-C", str(applied_repo), "cat-file", "blob",
                           f"{rev}:agent.json"], capture_output=True, timeout=GIT_TIMEOUT)
    if proc.returncode != 0:
        raise GitError(f"git cat-file failed: {proc.stderr.decode(errors='replace')[:500]}")
    return proc.stdout.decode("utf-8")


def head(repo, as_user=None):
    try:
        return git(repo, "rev-parse", "HEAD", as_user=as_user)
    except (GitError, OSError):
        return None


def owner(path):
    """(uid, gid) to read an agent-writable repo as: its owner, when the host is root
    and the owner is not; None means the host's own user."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if os.geteuid() != 0 or st.st_uid == 0:
        return None
    return st.st_uid, st.st_gid


# -- proposals ----------------------------------------------------------------

def fetch_proposal(config_repo, applied_repo, commit_ref, as_user=None):
    """Bring a commit of the proposed repo into the applied one, as a Proposal.

    The commit must be on a branch (or HEAD) of the proposed repo and descend
    from what is applied, so that approving it is a fast-forward. `as_user`
    (uid, gid) is who reads the proposed repo; None is the host's own user.
    """
    if not isinstance(commit_ref, str) or not commit_ref.strip() or commit_ref.startswith("-"):
        raise GitError("commit_ref must name a commit (a sha, a branch or HEAD)")
    ref = commit_ref.strip()
    if ref.startswith("refs/heads/"):
        ref = ref[len("refs/heads/"):]
    if ref != "HEAD" and not _SHA.match(ref) and not _BRANCH.match(ref):
        raise GitError("commit_ref must name a commit (a sha, a branch or HEAD)")
    harden(applied_repo)
    _fetch(config_repo, applied_repo, with_head=ref == "HEAD", as_user=as_user)
    sha = _resolve(applied_repo, ref)
    ancestor = subprocess.run(["git", "-C", str(applied_repo), "merge-base", "--is-ancestor",
                               "HEAD", sha]).returncode == 0
    if not ancestor:
        raise GitError(f"commit {sha[:12]} does not build on the applied config; rebase it "
                       "on the `applied/main` branch first")
    diff = _diff(applied_repo, sha, "--patch")
    if diff is None:
        raise GitError(f"the diff of commit {sha[:12]} is over {DIFF_MAX_BYTES >> 20} MiB, more "
                       "than an approval can carry; propose a smaller change")
    stat_text = _diff(applied_repo, sha, "--stat=160", "--summary") or ""
    return Proposal(sha=sha, stat=stat_text, diff=diff)


def _fetch(config_repo, applied_repo, with_head, as_user):
    """Every branch (and HEAD when asked) of the proposed repo into refs/proposed*.

    Only `git upload-pack` touches the proposed repo, as `as_user`; the receiving
    side is built to take packs from hostile remotes.
    """
    try:
        st = os.lstat(config_repo)
    except OSError:
        raise GitError("the proposed repo is missing") from None
    if not stat.S_ISDIR(st.st_mode):
        raise GitError("the proposed repo is not a directory")
    specs = ["+refs/heads/*:refs/proposed/*"] + (["+HEAD:refs/proposed-head"] if with_head else [])
    # A HEAD fetched for an earlier proposal must not count as being on a branch now.
    git(applied_repo, "update-ref", "-d", "refs/proposed-head", check=False)
    try:
        git(applied_repo, "fetch", "-q", "--prune", "--no-tags", "--no-write-fetch-head",
            "--no-recurse-submodules", f"--upload-pack={_upload_pack(as_user)}",
            str(config_repo), *specs)
    except GitError as exc:
        text = str(exc)
        if with_head and "remote ref HEAD" in text:
            raise GitError("HEAD of the proposed repo is not a commit; commit first, or "
                           "name a branch or a sha") from None
        raise GitError(f"the proposed repo could not be read: {text[:300]}") from None


def _upload_pack(as_user):
    """The upload-pack command for the proposed repo: as its owner when that is not us."""
    return shlex.join([*_as(as_user), "git", "upload-pack"])


def as_owner(repo):
    """The prefix that runs a command as `repo`'s owner; empty when that is us."""
    return _as(owner(repo))


def _as(as_user):
    """The prefix that runs a command as `as_user` with no home and none of our git config.

    safe.directory is harmless as that uid and lets it read a repo whose inner files
    another uid made.
    """
    if as_user is None:
        return []
    return [*isolation.setpriv_argv(*as_user), "env", "HOME=/nonexistent",
            "XDG_CONFIG_HOME=/nonexistent", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_COUNT=1",
            "GIT_CONFIG_KEY_0=safe.directory", "GIT_CONFIG_VALUE_0=*"]


def _resolve(applied_repo, ref):
    """The full sha `ref` names among what was just fetched (a branch, HEAD or a sha)."""
    if ref == "HEAD":
        candidates = ["refs/proposed-head"]
    elif _SHA.match(ref):
        candidates = [f"refs/proposed/{ref}", ref]     # a branch may look like hex
    else:
        candidates = [f"refs/proposed/{ref}"]
    for name in candidates:
        sha = git(applied_repo, "rev-parse", "--verify", "--quiet", "--end-of-options",
                  f"{name}^{{commit}}", check=False)
        if re.fullmatch(r"[0-9a-f]{40}", sha or ""):
            break
    else:
        raise GitError(f"there is no commit {ref[:60]!r} in the proposed repo")
    on_branch = git(applied_repo, "for-each-ref", "--count=1", "--contains", sha,
                    "--format=%(refname)", "refs/proposed/", "refs/proposed-head")
    if not on_branch:
        raise GitError(f"commit {sha[:12]} is not on any branch of the proposed repo")
    return sha


def _diff(applied_repo, sha, *what):
    """`git diff HEAD sha` with attributes and drivers inert, control characters made
    visible; None when git writes more than DIFF_MAX_BYTES."""
    cmd = ["git", *_DIFF_CONFIG, "-C", str(applied_repo), "diff", *_DIFF_FLAGS, *what,
           "HEAD", sha, "--"]
    with tempfile.TemporaryFile() as errors, \
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors) as proc:
        data = proc.stdout.read(DIFF_MAX_BYTES + 1)
        if len(data) > DIFF_MAX_BYTES:
            proc.kill()
            return None
        if proc.wait(timeout=GIT_TIMEOUT) != 0:
            errors.seek(0)
            raise GitError(f"git diff failed: {errors.read(500).decode(errors='replace')}")
    return visible(data.decode("utf-8", errors="backslashreplace"))


def visible(text):
    """`text` with every character that could hide or redraw a line written as \\uXXXX."""
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def diff_digest(diff):
    """The proof that a whole diff was read: its sha256, as `approve --diff-sha256` takes it."""
    return hashlib.sha256(diff.encode("utf-8")).hexdigest()


def shown_diff(diff):
    """(the part of a diff pages carry, whether it was cut, its whole length)."""
    diff = diff or ""
    return diff[:DIFF_SHOWN_CHARS], len(diff) > DIFF_SHOWN_CHARS, len(diff)


# -- applying -------------------------------------------------------------------

def tag(repo, name, target="HEAD", message=None):
    if message:
        git(repo, "tag", "-f", "-a", name, "-m", message, target)
    else:
        git(repo, "tag", "-f", name, target)


def fast_forward(applied_repo, sha):
    """Move the applied repo to `sha`; return the sha it was at, for a rollback."""
    before = head(applied_repo)
    harden(applied_repo)
    git(applied_repo, "merge", "--ff-only", "-q", sha)
    return before


def roll_back(applied_repo, sha):
    git(applied_repo, "reset", "--hard", "-q", sha)


def is_ancestor(repo, ancestor, sha):
    return subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", ancestor, sha],
                          capture_output=True).returncode == 0


_OUTCOME_TAG = re.compile(r"(approved|deployed|failed)/(\d+)\Z")


def unsettled(applied_repo):
    """(approval id, failed?) when HEAD is an approved commit not yet deployed, else None.

    HEAD tagged `approved/<id>` and neither `deployed/<any>` nor `failed/<id>`: its
    rollout has not ended. With `failed/<id>` too, a rollback was cut short.
    """
    try:
        listing = git(applied_repo, "tag", "--points-at", "HEAD")
    except (GitError, OSError):
        return None
    found = {"approved": set(), "deployed": set(), "failed": set()}
    for name in listing.split():
        match = _OUTCOME_TAG.match(name)
        if match:
            found[match[1]].add(int(match[2]))
    if found["deployed"] or not found["approved"]:
        return None
    newest = max(found["approved"])
    return newest, newest in found["failed"]


def last_deployed(applied_repo, below="HEAD"):
    """The newest commit strictly below `below` tagged `deployed/<id>`; None if none is."""
    try:
        name = git(applied_repo, "describe", "--tags", "--abbrev=0", "--match", "deployed/*",
                   f"{below}^")
        return git(applied_repo, "rev-parse", f"{name}^{{commit}}")
    except (GitError, OSError):
        return None


def check_config(applied_repo, rev="HEAD"):
    """Raise GitError when agent.json at `rev` is not a usable config.

    It reads the commit, not the work tree: a commit is judged before the work tree
    moves to it, so a harness that boots meanwhile never reads a refused config."""
    _check_tree(applied_repo, rev)
    try:
        data = json.loads(_committed_agent_json(applied_repo, rev),
                          object_pairs_hook=no_repeated_keys)
    except (OSError, ValueError) as exc:
        raise GitError(f"agent.json is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise GitError("agent.json must hold a JSON object")
    problem = settings_problem(data)
    if problem:
        raise GitError(f"agent.json: {problem}")


def _check_tree(applied_repo, rev="HEAD"):
    """agent.json (and agent.nix, when there is one) must be plain files in the commit."""
    listing = git(applied_repo, "ls-tree", "-z", rev, "--", *CONFIG_FILES)
    modes = {}
    for entry in filter(None, listing.split("\0")):
        meta, _, path = entry.partition("\t")
        modes[path] = meta.split(" ")[0]
    if "agent.json" not in modes:
        raise GitError("the commit has no agent.json")
    for path, mode in modes.items():
        if mode not in _REGULAR_MODES:
            kind = {"120000": "a symlink", "040000": "a directory",
                    "160000": "a submodule"}.get(mode, f"mode {mode}")
            raise GitError(f"{path} is {kind} in the commit; it must be a regular file")


# -- reading the history ----------------------------------------------------------

HISTORY_DEFAULT = 20
SUBJECT_MAX_CHARS = 200       # the manager writes subjects: a page shows a line, not a book
TAG_KINDS = ("proposal", "approved", "deployed", "failed", "denied")
_KIND_TAG = re.compile(r"tag: (" + "|".join(TAG_KINDS) + r")/(\d{1,18})\Z")


def history(applied_repo, limit=HISTORY_DEFAULT):
    """The applied repo's commits, newest first: what is applied and every proposal the
    host tagged (denied and failed ones too), each {sha, short, subject, time, tags}
    with its tags grouped by kind (`{"approved": [3]}`)."""
    # git cuts each subject (padding shorter ones with spaces): a subject of megabytes
    # must not reach us 200 times over.
    subject = f"%<({SUBJECT_MAX_CHARS + 1},trunc)%s"
    out = git(applied_repo, "log", "-z", f"--max-count={limit}", "--date-order",
              "--decorate-refs=refs/tags/", f"--format=%H %ct%x1f%D%x1f{subject}", "HEAD",
              "--tags", "--")
    return [_commit(record) for record in out.split("\0") if record.strip()]


def _commit(record):
    head_part, _, rest = record.strip("\n").partition("\x1f")
    decorations, _, subject = rest.partition("\x1f")     # refs hold no \x1f; subjects may
    sha, _, when = head_part.partition(" ")
    tags = {}
    for name in decorations.split(", "):
        match = _KIND_TAG.match(name)
        if match:
            tags.setdefault(match[1], []).append(int(match[2]))
    subject = visible(subject.rstrip(" "))
    if len(subject) > SUBJECT_MAX_CHARS:
        subject = subject[:SUBJECT_MAX_CHARS] + "…"
    return {"sha": sha, "short": sha[:12], "time": int(when or 0), "subject": subject,
            "tags": {kind: sorted(ids) for kind, ids in tags.items()}}
