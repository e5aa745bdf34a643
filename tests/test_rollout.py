"""Config rollouts: an approved config is deployed only once the agent has stayed up on it;
one that brings the agent down is tagged failed, rolled back and reported."""

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from hive import HostProcess, clean_env, free_port, wait_for
from hyperhive.bootconfig import config_problem
from test_apply_commit import commit_config, git, manager_events, tags
from test_dashboard import Dash

SETTLE = 3
# A real way for agent.json to bring its harness down: an extra MCP server whose command
# is not on the agent's machine. The host checks only agent.json's types when the commit
# is approved (what is on an agent's PATH is the agent's own machine's business: in a
# container, the packages its agent.nix installs), so the commit applies; the harness
# then refuses it at boot and exits.
MISSING_SERVER = {"search": {"command": "hyperhive-no-such-mcp-server", "args": ["--stdio"]}}


@pytest.fixture
def hive():
    h = HostProcess(env=clean_env(HYPERHIVE_SETTLE_SECONDS=SETTLE),
                    dashboard_port=free_port()).start()
    assert h.admin("spawn", name="alice")["ok"]
    lib = h.root / "lib"
    yield h, lib / "agents" / "alice" / "config", lib / "applied" / "alice"
    h.stop()
    shutil.rmtree(h.root, ignore_errors=True)


def row(h, name="alice"):
    return next(r for r in h.admin("status")["agent_statuses"] if r["name"] == name)


def propose(h, config, **changes):
    sha = commit_config(config, **changes)
    reply = h.agent("manager", "request_apply_commit", agent="alice", commit_ref=sha)
    assert reply["ok"], reply
    return reply["id"], sha


def tag_message(applied, name):
    return git(applied, "tag", "-l", "--format=%(contents)", name)


def up_on(h, sha):
    """alice's harness is up (waiting for a login: these hosts give agents no credentials)
    and the host started it on `sha`, with no rollout open."""
    r = row(h)
    return (r["running"] and r["needs_login"] and not r["failed"]
            and r["deployed_sha"] == sha[:12] and r["rollout"] is None)


def harness_pid(h, name="alice"):
    """The pid of this host's harness for `name` (other hosts on the machine have agents
    of the same name: their hive dirs are elsewhere)."""
    hive_dir = str(h.root / "run" / "agents" / name)
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if "agent" in args and hive_dir in args and "--name" in args:
            return int(entry.name)
    return None


def test_a_config_the_harness_refuses_is_rolled_back_and_reported(hive):
    h, config, applied = hive
    before = git(applied, "rev-parse", "HEAD")
    wait_for(lambda: up_on(h, before), 20, what="alice up on the initial config")
    aid, sha = propose(h, config, extra_mcp_servers=MISSING_SERVER)

    reply = h.admin("approve", id=aid)
    assert reply["ok"] and reply["rollout"] == "settling", reply

    wait_for(lambda: f"failed/{aid}" in tags(applied), 30, what=f"failed/{aid}")
    reason = tag_message(applied, f"failed/{aid}")
    assert "refused this config" in reason and "hyperhive-no-such-mcp-server" in reason
    assert "exit code 3" in reason
    assert git(applied, "rev-parse", f"failed/{aid}^{{commit}}") == sha
    assert f"deployed/{aid}" not in tags(applied)
    wait_for(lambda: git(applied, "rev-parse", "HEAD") == before, what="HEAD back")
    assert json.loads((applied / "agent.json").read_text()).get("extra_mcp_servers") in (None, {})
    # running again on the config it had, and staying up: the rollback does not loop
    wait_for(lambda: up_on(h, before), 20, what="alice up on the old config")
    pid = harness_pid(h)
    time.sleep(SETTLE)
    assert up_on(h, before) and harness_pid(h) == pid

    rolled = manager_events(h, "config_rolled_back")
    assert len(rolled) == 1, rolled
    assert rolled[0]["agent"] == "alice" and rolled[0]["id"] == aid
    assert rolled[0]["sha"] == sha and rolled[0]["rolled_back_to"] == before
    assert "hyperhive-no-such-mcp-server" in rolled[0]["reason"]
    assert not manager_events(h, "config_deployed")
    operator = [json.loads(m["body"]) for m in h.admin("inbox")["messages"]
                if m["from"] == "system"]
    assert any(e["event"] == "config_rolled_back" and e["id"] == aid for e in operator)
    # the approval itself now reads failed, with the reason
    assert h.admin("approval_diff", id=aid)["status"] == "failed"


def test_a_pending_config_built_on_a_failed_one_fails_with_it(hive):
    h, config, applied = hive
    bad, _bad_sha = propose(h, config, extra_mcp_servers=MISSING_SERVER)
    on_top, _ = propose(h, config, model="sonnet")      # carries the bad change too
    elsewhere = git(config, "rev-parse", "HEAD")
    assert h.admin("approve", id=bad)["ok"]
    wait_for(lambda: f"failed/{bad}" in tags(applied), 30, what=f"failed/{bad}")
    wait_for(lambda: h.admin("pending")["approvals"] == [], what="the pending one to fail")
    stale = h.admin("approval_diff", id=on_top)
    assert stale["status"] == "failed" and stale["fetched_sha"] == elsewhere
    assert manager_events(h, "config_rolled_back")[0]["also_failed"] == [on_top]


def test_a_good_config_is_deployed_only_after_the_settle_time(hive):
    h, config, applied = hive
    before = git(applied, "rev-parse", "HEAD")
    wait_for(lambda: up_on(h, before), 20, what="alice up on the initial config")
    aid, sha = propose(h, config, allowed_recipients=["operator"])

    approved_at = time.monotonic()
    reply = h.admin("approve", id=aid)
    assert reply["ok"] and reply["rollout"] == "settling", reply
    assert git(applied, "rev-parse", "HEAD") == sha
    assert f"approved/{aid}" in tags(applied) and f"deployed/{aid}" not in tags(applied)
    rollout = row(h)["rollout"]
    assert rollout["state"] == "settling" and rollout["id"] == aid and rollout["sha"] == sha[:12]
    assert f"settling#{aid}" in h.ctl("status").stdout
    dash = Dash(h.dashboard_port, h.login())
    assert f"settling · #{aid}" in dash.get("/")[2]
    alice = next(a for a in dash.state()["agents"] if a["name"] == "alice")
    assert alice["rollout"]["id"] == aid

    wait_for(lambda: f"deployed/{aid}" in tags(applied), 30, what=f"deployed/{aid}")
    assert time.monotonic() - approved_at >= SETTLE
    assert f"failed/{aid}" not in tags(applied)
    assert git(applied, "rev-parse", "HEAD") == sha
    wait_for(lambda: row(h)["rollout"] is None, what="the rollout to close")
    deployed = manager_events(h, "config_deployed")
    assert [(e["id"], e["agent"], e["sha"]) for e in deployed] == [(aid, "alice", sha)]
    assert not manager_events(h, "config_rolled_back")


def test_a_crash_inside_the_settle_time_rolls_back(hive):
    h, config, applied = hive
    before = git(applied, "rev-parse", "HEAD")
    wait_for(lambda: up_on(h, before), 20, what="alice up on the initial config")
    aid, _sha = propose(h, config, model="sonnet")
    assert h.admin("approve", id=aid)["ok"]
    wait_for(lambda: (row(h)["rollout"] or {}).get("ready_at"), 20,
             what="alice up on the new config")
    os.kill(harness_pid(h), signal.SIGKILL)

    wait_for(lambda: f"failed/{aid}" in tags(applied), 20, what=f"failed/{aid}")
    assert "inside the 3 s settle time" in tag_message(applied, f"failed/{aid}")
    assert "code -9" in tag_message(applied, f"failed/{aid}")
    wait_for(lambda: up_on(h, before), 20, what="alice up on the old config")
    assert manager_events(h, "config_rolled_back")[0]["id"] == aid
    assert not manager_events(h, "container_crash")


def test_approving_another_config_waits_for_the_rollout(hive):
    h, config, applied = hive
    first, _ = propose(h, config, model="sonnet")
    second, _ = propose(h, config, model="opus")
    assert h.admin("approve", id=first)["ok"]
    refused = h.admin("approve", id=second)
    assert refused["code"] == "conflict" and "settling" in refused["error"]
    assert [a["id"] for a in h.admin("pending")["approvals"]] == [second]
    wait_for(lambda: f"deployed/{first}" in tags(applied), 30, what=f"deployed/{first}")
    assert h.admin("approve", id=second)["ok"]


def test_a_host_restart_while_settling_settles_again(hive):
    h, config, applied = hive
    aid, sha = propose(h, config, model="sonnet")
    assert h.admin("approve", id=aid)["ok"]
    h.stop()
    assert f"deployed/{aid}" not in tags(applied)
    h.start()
    wait_for(lambda: (row(h)["rollout"] or {}).get("id") == aid, what="the rollout again")
    wait_for(lambda: f"deployed/{aid}" in tags(applied), 30, what=f"deployed/{aid}")
    assert git(applied, "rev-parse", "HEAD") == sha


def test_a_drafts_first_config_that_fails_leaves_it_stopped_and_failed(hive):
    h, _config, _applied = hive
    assert h.agent("manager", "request_spawn_draft", name="scout")["ok"]
    draft_applied = h.root / "lib" / "applied" / "scout"
    initial = git(draft_applied, "rev-parse", "HEAD")
    sha = commit_config(h.root / "lib" / "agents" / "scout" / "config",
                        extra_mcp_servers=MISSING_SERVER)
    aid = h.agent("manager", "request_spawn_commit", name="scout", commit_ref=sha)["id"]
    assert h.admin("approve", id=aid)["ok"]

    wait_for(lambda: f"failed/{aid}" in tags(draft_applied), 30, what=f"failed/{aid}")
    wait_for(lambda: row(h, "scout")["failed"], what="scout marked failed")
    assert not row(h, "scout")["running"]
    assert git(draft_applied, "rev-parse", "HEAD") == initial
    assert manager_events(h, "config_rolled_back")[0]["kind"] == "spawn"
    time.sleep(2)       # no crash-restart brings it back
    assert not row(h, "scout")["running"]


def test_the_harness_refuses_extra_mcp_servers_it_cannot_start(tmp_path):
    path = "/usr/bin:/bin"

    def problem(**servers):
        return config_problem({"extra_mcp_servers": servers}, path, tmp_path)
    assert problem() is None and config_problem({}, path, tmp_path) is None
    assert problem(fetch={"command": "/bin/true"}) is None
    assert problem(shell={"command": "sh", "args": ["-c", "true"], "env": {"A": "1"}}) is None
    assert "not an executable" in problem(search={"command": "hyperhive-no-such-mcp-server"})
    assert "not an executable" in problem(mine={"command": "./server"})
    (tmp_path / "server").write_text("#!/bin/sh\n")
    (tmp_path / "server").chmod(0o755)
    assert problem(mine={"command": "./server"}) is None
    assert "`args` must be a list" in problem(x={"command": "sh", "args": 5})
    assert "`env` values" in problem(x={"command": "sh", "env": {"A": 1}})
    assert "with a `command` string" in problem(x={"args": []})
    assert "`hyperhive` is taken" in problem(hyperhive={"command": "sh"})
    assert "must be an object" in config_problem({"extra_mcp_servers": []}, path, tmp_path)
