"""Config changes as commits: proposed by the manager, approved by the operator, tagged."""

import json

import pytest

from hive import commit_config, git, wait_for


def tags(repo):
    return set(git(repo, "tag").split())


@pytest.fixture
def repos(host_with_alice):
    lib = host_with_alice.root / "lib"
    return lib / "agents" / "alice" / "config", lib / "applied" / "alice"


def manager_events(h, event):
    return [json.loads(m["body"]) for m in h.agent("manager", "recent", limit=100)["messages"]
            if m["from"] == "system" and json.loads(m["body"]).get("event") == event]


def test_approved_commit_is_deployed_and_tagged(host_with_alice, repos):
    h, (config, applied) = host_with_alice, repos
    sha = commit_config(config, allowed_recipients=["operator"])
    reply = h.agent("manager", "request_apply_commit", agent="alice", commit_ref=sha[:10],
                    description="keep alice quiet")
    assert reply["ok"] and reply["sha"] == sha
    approval = h.admin("pending")["approvals"][0]
    assert approval["kind"] == "apply_commit" and approval["fetched_sha"] == sha
    assert "allowed_recipients" in approval["diff"] and approval["diff"].startswith("diff --git")
    assert approval["diff_stat"].startswith(" agent.json | ")
    assert "1 file changed" in approval["diff_stat"]
    assert approval["diff_truncated"] is False and approval["diff_length"] == len(approval["diff"])
    assert f"proposal/{approval['id']}" in tags(applied)
    assert h.admin("approve", id=approval["id"])["ok"]
    assert git(applied, "rev-parse", "HEAD") == sha
    resolved = manager_events(h, "approval_resolved")[-1]
    assert resolved["status"] == "approved" and resolved["rollout"] == "settling"
    wait_for(lambda: f"deployed/{approval['id']}" in tags(applied), what="the deployed tag")
    assert f"approved/{approval['id']}" in tags(applied)
    assert h.agent("alice", "send", to="bob", body="x")["code"] in ("forbidden", "not_found")
    assert h.admin("spawn", name="bob")["ok"]
    assert h.agent("alice", "send", to="bob", body="x")["code"] == "forbidden"


def test_a_broken_config_is_refused_before_the_agent_could_read_it(host_with_alice, repos):
    h, (config, applied) = host_with_alice, repos
    before = git(applied, "rev-parse", "HEAD")
    on_disk = (applied / "agent.json").stat()
    (config / "agent.json").write_text("{not json")
    git(config, "commit", "-qam", "oops")
    aid = h.agent("manager", "request_apply_commit", agent="alice", commit_ref="HEAD")["id"]
    reply = h.admin("approve", id=aid)
    assert reply["code"] == "conflict" and "refused" in reply["error"], reply
    assert git(applied, "rev-parse", "HEAD") == before
    # Judged in the commit: the work tree a booting harness reads never held it.
    now = (applied / "agent.json").stat()
    assert (now.st_ino, now.st_mtime_ns) == (on_disk.st_ino, on_disk.st_mtime_ns)
    assert f"failed/{aid}" in tags(applied)
    assert "not valid JSON" in git(applied, "tag", "-l", "-n9", f"failed/{aid}")
    assert h.admin("pending")["approvals"] == []
    assert manager_events(h, "approval_resolved")[-1]["status"] == "failed"


def test_denied_commit_is_tagged_with_the_note(host_with_alice, repos):
    h, (config, applied) = host_with_alice, repos
    commit_config(config, model="opus")
    aid = h.agent("manager", "request_apply_commit", agent="alice", commit_ref="HEAD")["id"]
    assert h.admin("deny", id=aid, note="too expensive")["ok"]
    assert "too expensive" in git(applied, "tag", "-l", "-n9", f"denied/{aid}")
    assert json.loads((applied / "agent.json").read_text())["model"] == "haiku"
    event = manager_events(h, "approval_resolved")[-1]
    assert event["status"] == "denied" and event["note"] == "too expensive"


def test_bad_proposals_are_refused_up_front(host_with_alice, repos):
    h, (config, _applied) = host_with_alice, repos
    for ref in ("no-such-branch", "--upload-pack=touch /tmp/x", "deadbeef"):
        reply = h.agent("manager", "request_apply_commit", agent="alice", commit_ref=ref)
        assert reply["code"] == "bad_args", (ref, reply)
    # A commit that does not build on what is applied cannot be fast-forwarded.
    git(config, "checkout", "-q", "--orphan", "rogue")
    (config / "agent.json").write_text("{}")
    git(config, "add", "agent.json")
    git(config, "commit", "-qm", "unrelated history")
    reply = h.agent("manager", "request_apply_commit", agent="alice", commit_ref="rogue")
    assert reply["code"] == "bad_args" and "does not build on" in reply["error"]
    assert h.agent("alice", "request_apply_commit", agent="alice",
                   commit_ref="HEAD")["code"] == "unknown_cmd"
    assert h.agent("manager", "request_apply_commit", agent="ghost",
                   commit_ref="HEAD")["code"] == "not_found"
