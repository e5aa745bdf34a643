"""Reading an agent's config: its applied agent.json and its config repo's history, by
`config` on the admin socket, `ctl config` and the dashboard's config page."""

import json
import shutil
from types import SimpleNamespace

import pytest

from hive import wait_for
from hyperhive import printouts, repos
from test_apply_commit import commit_config, git, tags
from test_dashboard import Dash, start_host

HOSTILE = "<script>alert('owned')</script>"


# -- the history, in-process on real repos ----------------------------------------------

@pytest.fixture
def applied(tmp_path):
    repos.init(tmp_path / "config", tmp_path / "applied")
    return tmp_path / "applied"


def commit(repo, subject, **changes):
    config = json.loads((repo / "agent.json").read_text())
    config.update(changes)
    (repo / "agent.json").write_text(json.dumps(config))
    repos.git(repo, "commit", "-qam", subject)
    return repos.git(repo, "rev-parse", "HEAD")


def test_history_is_newest_first_with_each_commits_tags_grouped_by_kind(applied):
    first = repos.git(applied, "rev-parse", "HEAD")
    sha = commit(applied, "sonnet please", model="sonnet")
    repos.tag(applied, "proposal/1", sha)
    repos.tag(applied, "approved/1", sha)
    repos.tag(applied, "deployed/1", sha)
    repos.tag(applied, "not-ours", sha)
    history = repos.history(applied)
    assert [c["sha"] for c in history] == [sha, first]
    assert history[0]["tags"] == {"proposal": [1], "approved": [1], "deployed": [1]}
    assert history[0]["subject"] == "sonnet please" and history[0]["short"] == sha[:12]
    assert history[1]["tags"] == {"deployed": [0]} and history[1]["time"] > 0


def test_a_denied_proposal_off_the_applied_branch_is_in_the_history(applied):
    base = repos.git(applied, "rev-parse", "HEAD")
    denied = commit(applied, "rejected idea", model="opus")
    repos.tag(applied, "proposal/2", denied)
    repos.tag(applied, "denied/2", "proposal/2", message="no")     # a tag of a tag
    repos.roll_back(applied, base)
    history = repos.history(applied)
    assert history[0]["sha"] == denied
    assert history[0]["tags"] == {"proposal": [2], "denied": [2]}


def test_history_is_bounded_by_the_limit(applied):
    for n in range(5):
        commit(applied, f"change {n}", n=n)
    history = repos.history(applied, limit=3)
    assert [c["subject"] for c in history] == ["change 4", "change 3", "change 2"]


def test_a_hostile_subject_is_cut_and_its_control_characters_shown(applied):
    commit(applied, "\x1b[2Jwiped\u202e" + "x" * 1000)
    subject = repos.history(applied, limit=1)[0]["subject"]
    assert "\x1b" not in subject and "\u202e" not in subject
    assert subject.startswith("\\u001b[2Jwiped\\u202e")
    assert len(subject) == repos.SUBJECT_MAX_CHARS + 1 and subject.endswith("…")


def test_git_cuts_a_subject_of_megabytes_before_we_read_it(applied, tmp_path):
    (tmp_path / "message").write_text("y" * (4 << 20))
    (applied / "agent.json").write_text('{"model": "opus"}')
    repos.git(applied, "commit", "-qa", "-F", str(tmp_path / "message"))
    subject = repos.history(applied, limit=1)[0]["subject"]
    assert len(subject) == repos.SUBJECT_MAX_CHARS + 1 and subject.startswith("yyy")


def test_the_printout_is_the_config_then_one_line_per_commit():
    reply = {"config": {"model": "haiku"}, "history": [
        {"sha": "a" * 40, "short": "a" * 12, "time": 0, "subject": "first",
         "tags": {"proposal": [3], "deployed": [3]}},
        {"sha": "b" * 40, "short": "b" * 12, "time": 0, "subject": "plain", "tags": {}}]}
    text = printouts.config_view(reply, SimpleNamespace())
    assert text.startswith('{\n  "model": "haiku"\n}\n')
    assert text.splitlines()[-2:] == [f"{'a' * 12}  -  proposal/3,deployed/3  first",
                                      f"{'b' * 12}  -  -  plain"]


# -- through a real host --------------------------------------------------------------

@pytest.fixture(scope="module")
def hive():
    """A host with `alice`, one approved (deployed) and one denied config commit, the
    denied one's subject hostile markup."""
    h, dash = start_host()
    assert h.admin("spawn", name="alice")["ok"]
    lib = h.root / "lib"
    config, applied = lib / "agents" / "alice" / "config", lib / "applied" / "alice"
    sha = commit_config(config, allowed_recipients=["operator"])
    aid = h.agent("manager", "request_apply_commit", agent="alice", commit_ref=sha)["id"]
    assert h.admin("approve", id=aid)["ok"]
    wait_for(lambda: f"deployed/{aid}" in tags(applied), what="the deployed tag")
    (config / "agent.json").write_text('{"model": "opus"}\n')
    git(config, "commit", "-qam", HOSTILE)
    bad = h.agent("manager", "request_apply_commit", agent="alice", commit_ref="HEAD")["id"]
    assert h.admin("deny", id=bad)["ok"]
    yield SimpleNamespace(h=h, dash=dash, approved=(aid, sha), denied=bad)
    h.stop()
    shutil.rmtree(h.root, ignore_errors=True)


def test_the_admin_socket_gives_the_applied_config_and_the_tagged_history(hive):
    reply = hive.h.admin("config", name="alice")
    assert reply["ok"] and reply["name"] == "alice"
    assert reply["config"]["allowed_recipients"] == ["operator"]
    aid, sha = hive.approved
    by_sha = {c["sha"]: c for c in reply["history"]}
    assert by_sha[sha]["tags"] == {"proposal": [aid], "approved": [aid], "deployed": [aid]}
    assert reply["history"][0]["tags"] == {"proposal": [hive.denied], "denied": [hive.denied]}
    assert reply["history"][0]["subject"] == HOSTILE
    assert len(hive.h.admin("config", name="alice", limit=1)["history"]) == 1


def test_ctl_config_prints_the_config_then_the_history(hive):
    out = hive.h.ctl("config", "alice", "--limit", "2")
    assert out.returncode == 0, out.stderr
    aid, sha = hive.approved
    assert '"allowed_recipients": [\n    "operator"\n  ]' in out.stdout
    lines = out.stdout.splitlines()
    assert lines[-2].endswith(f"proposal/{hive.denied},denied/{hive.denied}  {HOSTILE}")
    assert lines[-1].startswith(sha[:12]) and f"deployed/{aid}" in lines[-1]


def test_the_config_page_shows_the_config_and_escapes_hostile_subjects(hive):
    status, headers, page = hive.dash.get("/agents/alice/config")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "&quot;allowed_recipients&quot;" in page
    assert HOSTILE not in page and "&lt;script&gt;" in page
    assert f'b-tag-denied">denied/{hive.denied}<' in page
    assert f'b-tag-deployed">deployed/{hive.approved[0]}<' in page


def test_each_agent_row_on_the_dashboard_links_to_its_config_page(hive):
    _, _, page = hive.dash.get("/")
    assert 'href="/agents/alice/config"' in page
    assert 'href="/agents/manager/config"' in page


# -- attacks ----------------------------------------------------------------------------

@pytest.mark.parametrize("name, code", [("nobody", "not_found"), ("../alice", "bad_args"),
                                        ("alice/../manager", "bad_args"), ("", "bad_args"),
                                        ("x" * 300, "bad_args")])
def test_config_refuses_what_is_not_an_agents_name(hive, name, code):
    assert hive.h.admin("config", name=name)["code"] == code


@pytest.mark.parametrize("limit", [0, -1, 201, 1 << 70, 2.5, "20", True])
def test_config_refuses_a_limit_out_of_bounds(hive, limit):
    assert hive.h.admin("config", name="alice", limit=limit)["code"] == "bad_args"


def test_agents_and_the_manager_cannot_read_configs(hive):
    for who in ("alice", "manager"):
        assert hive.h.agent(who, "config", name="alice")["code"] == "unknown_cmd"


@pytest.mark.parametrize("path, status", [("/agents/nobody/config", 404),
                                          ("/agents/..%2Fmanager/config", 404),
                                          ("/agents/..manager/config", 400),
                                          ("/agents/Alice/config", 400),
                                          ("/agents/alice/config?limit=0", 400),
                                          ("/agents/alice/config?limit=201", 400),
                                          ("/agents/alice/config?limit=x", 400)])
def test_the_config_page_refuses_bad_names_and_limits(hive, path, status):
    answer, _, page = hive.dash.get(path)
    assert answer == status and "allowed_recipients" not in page


def test_the_config_page_needs_the_operators_session(hive):
    status, _, page = Dash(hive.dash.port).get("/agents/alice/config")
    assert status in (401, 403) and "allowed_recipients" not in page


def test_the_ctl_limit_is_bounded_before_it_is_sent(hive):
    out = hive.h.ctl("config", "alice", "--limit", "1000")
    assert out.returncode != 0 and "limit" in (out.stdout + out.stderr)
