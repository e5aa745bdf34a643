"""A hostile manager against the approval of config commits: diffs that hide a change,
git config and hooks in the proposed repo, symlinks in a commit.

Each test is the manager's real move (a commit in the proposed repo, a real
`request_apply_commit`), then checks that the operator saw the change, that
nothing ran as root, and that nothing was read through a link.
"""

import json
import os
import re
import shlex
import shutil
import sqlite3
import stat
import subprocess
import time

import pytest
from playwright.sync_api import expect

from hive import HostProcess, clean_env, free_port, short_tmpdir, use_session, wait_for
from hyperhive import repos
from hyperhive.store import Store
from test_apply_commit import commit_config, git, tags
from test_dashboard import SSE, Dash

UNUSED_UID = 61234
CUT = repos.DIFF_SHOWN_CHARS


# -- fixtures and helpers ---------------------------------------------------------------

def _start(env=None):
    h = HostProcess(dashboard_port=free_port(), env=env).start()
    dash = Dash(h.dashboard_port, cookie=h.cookie)
    wait_for(lambda: _answers(dash), 10, what="the dashboard")
    assert h.admin("spawn", name="alice")["ok"]
    return h, dash


def _answers(dash):
    try:
        return dash.get("/api/state")[0] == 200
    except OSError:
        return False


def _stop(h):
    h.stop()
    shutil.rmtree(h.root, ignore_errors=True)


@pytest.fixture
def hive():
    h, dash = _start()
    yield h, dash
    _stop(h)


@pytest.fixture
def marks():
    """A world-writable dir for the markers hostile commands would leave."""
    d = short_tmpdir("mark")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def places(h):
    lib = h.root / "lib"
    return lib / "agents" / "alice" / "config", lib / "applied" / "alice"


def commit_files(repo, message, **files):
    """Write files (name: text or bytes) into a repo and commit everything."""
    for name, text in files.items():
        path = repo / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def propose(h, ref="HEAD"):
    reply = h.agent("manager", "request_apply_commit", agent="alice", commit_ref=ref)
    assert reply["ok"], reply
    return reply["id"]


def pending(h, aid):
    return next(a for a in h.admin("pending")["approvals"] if a["id"] == aid)


def approve_ok(h, aid, **fields):
    agent = pending(h, aid)["agent"]
    reply = h.admin("approve", id=aid, **fields)
    assert reply["ok"], reply
    # the agent's next config waits until this one is deployed (or rolled back)
    wait_for(lambda: all(r["rollout"] is None for r in h.admin("status")["agent_statuses"]
                         if r["name"] == agent), 20, what=f"approval #{aid} to settle")


def applied_model(applied):
    return json.loads((applied / "agent.json").read_text())["model"]


def alice_model(h):
    return next(r for r in h.admin("status")["agent_statuses"] if r["name"] == "alice")["model"]


def host_still_answers(h):
    started = time.monotonic()
    assert h.admin("hello")["ok"]
    assert h.agent("manager", "status")["ok"]
    assert time.monotonic() - started < 1


def left_marks(marks):
    return {p.name: p.stat().st_uid for p in marks.iterdir()}


# -- the diff shows every change ------------------------------------------------------------

@pytest.mark.parametrize("attribute", ["-diff", "binary"])
def test_a_committed_gitattributes_cannot_show_a_change_as_binary(hive, attribute):
    h, _dash = hive
    config, _applied = places(h)
    # step one looks harmless, and is approved; step two relies on it
    commit_files(config, "tidy", **{".gitattributes": f"agent.json {attribute}\n"})
    approve_ok(h, propose(h))
    commit_config(config, model="opus")
    ap = pending(h, propose(h))
    assert '+  "model": "opus",' in ap["diff"]
    assert "Binary files" not in ap["diff"] and "Bin " not in ap["diff_stat"]
    assert (" agent.json | 4 ++--\n 1 file changed, 2 insertions(+), 2 deletions(-)"
            in ap["diff_stat"])
    assert ap["diff_truncated"] is False and ap["diff_length"] == len(ap["diff"])


def test_drivers_named_in_gitattributes_never_run_and_never_change_what_is_shown(marks):
    # The host's own git config names drivers (as real hosts do, for gpg or images);
    # the proposed repo names them too, with diff.external besides.
    lies = f"sh -c 'touch {marks}/$0 && echo LIES'"     # no ';': it starts a comment
    drivers = (f'[diff "evil"]\n\ttextconv = {lies} textconv\n\tcommand = {lies} command\n'
               f'[filter "evil"]\n\tsmudge = {lies} smudge\n\tclean = {lies} clean\n')
    gitconfig = marks / "host.gitconfig"
    gitconfig.write_text(drivers)
    h, _dash = _start(env=clean_env(GIT_CONFIG_GLOBAL=gitconfig))
    try:
        config, applied = places(h)
        with open(config / ".git" / "config", "a") as f:
            f.write(f'[diff "evil"]\n\ttextconv = {lies} textconv\n\tcommand = {lies} command\n'
                    f"[diff]\n\texternal = {lies} external\n")
        commit_files(config, "tidy", **{".gitattributes": "agent.json diff=evil filter=evil\n"})
        approve_ok(h, propose(h))
        sha = commit_config(config, model="opus")
        aid = propose(h)
        ap = pending(h, aid)
        assert '+  "model": "opus",' in ap["diff"] and "LIES" not in ap["diff"]
        approve_ok(h, aid)
        # the work tree holds the committed bytes: no smudge filter rewrote them
        assert (applied / "agent.json").read_bytes() == subprocess.run(
            ["git", "-C", str(applied), "cat-file", "blob", f"{sha}:agent.json"],
            capture_output=True, check=True).stdout
        assert applied_model(applied) == "opus"
        assert set(left_marks(marks)) == {"host.gitconfig"}
    finally:
        _stop(h)


def test_control_characters_in_a_diff_are_shown_not_obeyed(hive):
    h, _dash = hive
    config, _applied = places(h)
    # a carriage return and an erase-line escape would draw a harmless line over this one
    commit_files(config, "note", **{"notes.txt": 'model opus\r  "model": "haiku",\x1b[2K\n'})
    ap = pending(h, propose(h))
    assert "\r" not in ap["diff"] and "\x1b" not in ap["diff"]
    assert '+model opus\\u000d  "model": "haiku",\\u001b[2K' in ap["diff"]


# -- a diff too long for the page ----------------------------------------------------------

def _long_change(config):
    """A change to agent.json placed after more than the page shows (files sort by path)."""
    filler = "".join(f"filler line {i:06d} " + "x" * 60 + "\n" for i in range(3500))
    commit_files(config, "filler", **{"a-filler.txt": filler})
    return commit_config(config, model="opus")


def test_a_change_past_the_cut_needs_the_sha256_of_the_whole_diff(hive):
    h, _dash = hive
    config, applied = places(h)
    before = git(applied, "rev-parse", "HEAD")
    sha = _long_change(config)
    aid = propose(h)
    ap = pending(h, aid)
    assert ap["diff_truncated"] is True and ap["diff_length"] > CUT and len(ap["diff"]) == CUT
    assert '"opus"' not in ap["diff"] and "agent.json" in ap["diff_stat"]
    assert "diff_sha256" not in ap

    refused = h.admin("approve", id=aid)
    assert refused["code"] == "conflict" and f"hyperhive ctl diff {aid}" in refused["error"]
    wrong = h.admin("approve", id=aid, diff_sha256="0" * 64)
    assert wrong["code"] == "conflict" and "is not the sha256" in wrong["error"]
    assert git(applied, "rev-parse", "HEAD") == before and applied_model(applied) == "haiku"
    assert alice_model(h) == "haiku" and pending(h, aid)["id"] == aid
    assert not any(t.endswith(f"/{aid}") and not t.startswith("proposal/") for t in tags(applied))
    host_still_answers(h)

    shown = h.ctl("diff", str(aid))
    assert shown.returncode == 0, shown.stderr
    assert '+  "model": "opus",' in shown.stdout and "a-filler.txt" in shown.stdout
    last = shown.stdout.rstrip("\n").splitlines()[-1]
    command = shlex.split(last.split("to approve it: ", 1)[1])
    assert command[:2] == ["hyperhive", "ctl"] and "--diff-sha256" in command
    done = h.ctl(*command[2:])
    assert done.returncode == 0, done.stderr
    assert git(applied, "rev-parse", "HEAD") == sha and applied_model(applied) == "opus"
    wait_for(lambda: f"deployed/{aid}" in tags(applied), what=f"deployed/{aid}")


def test_the_dashboard_approves_a_cut_diff_only_from_the_page_that_shows_all_of_it(hive):
    h, dash = hive
    config, applied = places(h)
    _long_change(config)
    sse = SSE(dash, query="?kinds=approval_added", last_event_id=0)
    aid = propose(h)
    sse.wait(lambda s: any(e["data"]["id"] == aid for e in s.events), what="approval_added")
    added = next(e["data"] for e in sse.events if e["data"]["id"] == aid)
    sse.close()
    assert added["diff_truncated"] is True and added["diff_length"] > CUT
    assert "diff" not in added and "agent.json" in added["diff_stat"]

    status, _, page = dash.get("/")
    assert status == 200 and "this diff is cut" in page and f'href="/approvals/{aid}"' in page
    assert f'action="/approve/{aid}"' not in page
    status, headers, whole = dash.get(f"/approvals/{aid}/diff")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert '+  "model": "opus",' in whole and len(whole) > CUT
    assert whole == h.admin("approval_diff", id=aid)["diff"]
    status, _, review = dash.get(f"/approvals/{aid}")
    assert status == 200 and '+  &quot;model&quot;: &quot;opus&quot;,' in review
    digest = review.split('name="diff_sha256" value="', 1)[1].split('"', 1)[0]
    assert digest == h.admin("approval_diff", id=aid)["diff_sha256"]

    status, reply = dash.post(f"/approve/{aid}", as_json=True)
    assert status == 409 and reply["code"] == "conflict"
    assert applied_model(applied) == "haiku"
    flash = dash.form(f"/approve/{aid}")
    assert "read all of it" in flash["error"][0]
    assert dash.act(f"/approve/{aid}", {"diff_sha256": digest})["status"] == "approved"
    assert applied_model(applied) == "opus"
    assert dash.get("/approvals/99999")[0] == 404 and dash.get("/approvals/x/diff")[0] == 400


def test_in_a_browser_a_cut_diff_is_approved_after_reading_all_of_it(hive, context):
    h, dash = hive
    config, applied = places(h)
    use_session(context, h.cookie)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(dash.origin + "/")
        expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
        _long_change(config)
        aid = propose(h)
        card = page.locator(f"#approval-{aid}")       # drawn live by the page's script
        expect(card).to_contain_text("this diff is cut", timeout=5_000)
        expect(card.locator(".diff-stat")).to_contain_text("agent.json")
        expect(card.get_by_role("button", name="◆ APPR0VE")).to_have_count(0)
        card.get_by_role("link", name="◆ READ ALL T0 APPR0VE").click()
        expect(page.locator(".approval-review")).to_contain_text('"model": "opus"')
        page.get_by_role("button", name=f"◆ APPR0VE #{aid}").click()
        page.wait_for_url(re.compile(r"/\?ok=.*#approvals"))
        assert applied_model(applied) == "opus" and errors == []
    finally:
        page.close()


def test_a_diff_over_the_hard_bound_is_refused_up_front(hive):
    h, _dash = hive
    config, applied = places(h)
    big = "".join(f"line {i:07d} " + "y" * 100 + "\n" for i in range(45_000))   # ~5 MiB
    commit_files(config, "huge", **{"huge.txt": big})
    reply = h.agent("manager", "request_apply_commit", agent="alice", commit_ref="HEAD")
    assert reply["code"] == "bad_args" and "over 4 MiB" in reply["error"], reply
    assert h.admin("pending")["approvals"] == []
    assert not any(t.startswith("proposal/") for t in tags(applied))
    host_still_answers(h)


# -- git never runs the proposed repo's config as root ---------------------------------------

HOOKS = ("pre-upload-pack", "post-checkout", "post-merge", "reference-transaction",
         "pre-auto-gc", "post-index-change", "fsmonitor-watchman", "push-to-checkout")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the repo to another uid")
@pytest.mark.parametrize("owner", [UNUSED_UID, 0], ids=["owned-by-the-manager", "owned-by-root"])
def test_config_and_hooks_of_the_proposed_repo_never_run_as_root(hive, marks, owner):
    h, _dash = hive
    config, applied = places(h)
    sha = commit_config(config, model="opus")
    touch = f"touch {marks}/"
    for key, value in (("core.fsmonitor", touch + "fsmonitor"),
                       ("core.hooksPath", str(marks / "hooks")),
                       ("uploadpack.packObjectsHook", touch + "packobjectshook;"),
                       ("core.sshCommand", touch + "sshcommand"),
                       ("core.alternateRefsCommand", touch + "alternaterefs"),
                       ("core.pager", touch + "pager"),
                       ("diff.external", touch + "diffexternal")):
        git(config, "config", key, value)
    for d in (config / ".git" / "hooks", marks / "hooks"):
        d.mkdir(exist_ok=True)
        for hook in HOOKS:
            (d / hook).write_text(f"#!/bin/sh\n{touch}hook-{hook}\n")
            (d / hook).chmod(0o755)
    # the manager's own uid owns its repo (or root, as before agents had uids of their
    # own); the way to it is open to that uid, as the manager's way to the repos it edits
    for d in (h.root, config.parent):
        os.chmod(d, 0o755)
    subprocess.run(["chown", "-R", f"{owner}:{owner}", str(config)], check=True)

    aid = propose(h)
    ap = pending(h, aid)
    assert ap["fetched_sha"] == sha and '+  "model": "opus",' in ap["diff"]
    approve_ok(h, aid)
    assert applied_model(applied) == "opus"
    by_root = {name for name, uid in left_marks(marks).items() if uid == 0}
    assert by_root == {"hooks"}, left_marks(marks)      # our own hooks dir, nothing else
    host_still_answers(h)


def test_branch_names_and_an_unborn_head_get_clear_refusals(hive):
    h, _dash = hive
    config, _applied = places(h)
    sha = commit_config(config, model="opus")
    git(config, "checkout", "-q", "--orphan", "empty")
    for ref, says in (("HEAD", "HEAD of the proposed repo is not a commit"),
                      ("main~1", "must name a commit"), ("a..b", "must name a commit"),
                      ("no-such", "there is no commit 'no-such'")):
        reply = h.agent("manager", "request_apply_commit", agent="alice", commit_ref=ref)
        assert reply["code"] == "bad_args" and says in reply["error"], (ref, reply)
    assert pending(h, propose(h, "refs/heads/main"))["fetched_sha"] == sha


def test_a_proposed_repo_that_is_not_a_directory_is_refused(hive):
    h, _dash = hive
    config, applied = places(h)
    shutil.rmtree(config)
    config.symlink_to(applied)
    reply = h.agent("manager", "request_apply_commit", agent="alice", commit_ref="HEAD")
    assert reply["code"] == "bad_args" and "not a directory" in reply["error"], reply
    assert h.admin("pending")["approvals"] == []


# -- symlinks in a commit ------------------------------------------------------------------

def test_a_symlinked_agent_json_is_refused_and_nothing_is_read_through_it(hive, marks):
    h, _dash = hive
    config, applied = places(h)
    before = git(applied, "rev-parse", "HEAD")
    secret = marks / "secret.json"
    secret.write_text('{"model": "SECRET-MODEL"}\n')
    fifo = marks / "fifo"
    os.mkfifo(fifo)
    for target in (secret, fifo):
        (config / "agent.json").unlink()
        (config / "agent.json").symlink_to(target)
        git(config, "add", "-A")
        git(config, "commit", "-qm", f"agent.json is {target.name}")
        aid = propose(h)
        assert "new file mode 120000" in pending(h, aid)["diff"]
        reply = h.admin("approve", id=aid)
        assert reply["code"] == "conflict" and "agent.json is a symlink" in reply["error"]
        assert "agent.json is a symlink" in git(applied, "tag", "-l", "-n9", f"failed/{aid}")
        assert git(applied, "rev-parse", "HEAD") == before
        assert stat.S_ISREG(os.lstat(applied / "agent.json").st_mode)
        assert applied_model(applied) == "haiku" and alice_model(h) == "haiku"
        host_still_answers(h)
    assert "SECRET-MODEL" not in json.dumps(h.admin("status"))


def test_an_agent_nix_that_is_a_symlink_is_refused(hive):
    h, _dash = hive
    config, applied = places(h)
    (config / "agent.nix").symlink_to("/etc/shadow")
    git(config, "add", "-A")
    git(config, "commit", "-qm", "agent.nix")
    reply = h.admin("approve", id=propose(h))
    assert reply["code"] == "conflict" and "agent.nix is a symlink" in reply["error"]
    assert not (applied / "agent.nix").exists()


def test_a_draft_whose_agent_json_is_a_symlink_stays_a_draft(hive):
    h, _dash = hive
    assert h.agent("manager", "request_spawn_draft", name="scout")["ok"]
    config = h.root / "lib" / "agents" / "scout" / "config"
    applied = h.root / "lib" / "applied" / "scout"
    (config / "agent.json").unlink()
    (config / "agent.json").symlink_to("/etc/shadow")
    git(config, "add", "-A")
    git(config, "commit", "-qm", "linked")
    aid = h.agent("manager", "request_spawn_commit", name="scout", commit_ref="HEAD")["id"]
    reply = h.admin("approve", id=aid)
    assert reply["code"] == "conflict" and "agent.json is a symlink" in reply["error"]
    assert "scout" not in h.admin("list")["agents"]
    assert h.admin("drafts")["drafts"][0]["name"] == "scout"
    assert stat.S_ISREG(os.lstat(applied / "agent.json").st_mode)
    host_still_answers(h)


def test_a_key_given_twice_in_agent_json_is_refused(hive):
    h, _dash = hive
    config, applied = places(h)
    # the diff's reader sees "haiku" first; JSON would keep the "opus" far to the right
    text = (config / "agent.json").read_text().replace(
        '"model": "haiku",', '"model": "haiku",' + " " * 300 + '"model": "opus",')
    commit_files(config, "same model", **{"agent.json": text})
    reply = h.admin("approve", id=propose(h))
    assert reply["code"] == "conflict" and "`model` appears more than once" in reply["error"]
    assert applied_model(applied) == "haiku" and alice_model(h) == "haiku"


def test_any_other_symlink_in_a_commit_checks_out_as_a_plain_file(hive):
    h, _dash = hive
    config, applied = places(h)
    (config / "extra").symlink_to("/etc/passwd")
    git(config, "add", "-A")
    git(config, "commit", "-qm", "a link")
    approve_ok(h, propose(h))
    extra = applied / "extra"
    assert stat.S_ISREG(os.lstat(extra).st_mode) and extra.read_text() == "/etc/passwd"


# -- storage ---------------------------------------------------------------------------------

def test_an_older_database_gains_the_diff_stat_column(tmp_path):
    path = tmp_path / "broker.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE approvals (id INTEGER PRIMARY KEY, agent TEXT NOT NULL, "
                   "kind TEXT NOT NULL, commit_ref TEXT NOT NULL, fetched_sha TEXT, "
                   "description TEXT, diff TEXT, requested_at REAL NOT NULL, "
                   "status TEXT NOT NULL, resolved_at REAL, note TEXT)")
        db.execute("INSERT INTO approvals (agent, kind, commit_ref, diff, requested_at, status) "
                   "VALUES ('alice', 'apply_commit', 'HEAD', 'diff --git', 1.0, 'pending')")
    store = Store(path)
    try:
        (row,) = store.approvals("pending")
        assert row["diff"] == "diff --git" and row["diff_stat"] is None
        aid = store.add_approval("bob", "apply_commit", 2.0, diff="d", diff_stat="s")
        assert store.approval(aid)["diff_stat"] == "s"
    finally:
        store.close()
