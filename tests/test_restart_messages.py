"""An agent hears why its harness (re)started: one `started` system message per start
but its first, in its inbox before the harness takes any (these hosts give agents no
credentials, so the harnesses wait for a login and leave their inboxes alone)."""

import json
import os
import shutil
import signal

import pytest

from hive import HostProcess, clean_env, wait_for
from hyperhive.dashview import system_event
from hyperhive.formats import event_line
from hyperhive.replies import format_message
from test_apply_commit import commit_config, git
from test_rollout import harness_pid, row


@pytest.fixture
def hive():
    h = HostProcess(env=clean_env(HYPERHIVE_SETTLE_SECONDS=2)).start()
    assert h.admin("spawn", name="alice")["ok"]
    yield h
    h.stop()
    shutil.rmtree(h.root, ignore_errors=True)


def taken_starts(h, name="alice"):
    """The `started` events in `name`'s inbox, taken out of it."""
    messages = h.agent(name, "recv", max=32)["messages"]
    bodies = [json.loads(m["body"]) for m in messages if m["from"] == "system"]
    return [b for b in bodies if b.get("event") == "started"]


def running(h, name="alice"):
    return row(h, name)["running"]


def test_a_spawn_is_no_restart_and_tells_nothing(hive):
    wait_for(lambda: running(hive), what="alice running")
    assert taken_starts(hive) == []


def test_each_start_by_hand_tells_the_agent_once_who_ran_what(hive):
    h = hive
    assert h.ctl("restart", "alice").returncode == 0
    assert taken_starts(h) == [{"event": "started", "agent": "alice", "reason": "operator",
                                "by": "operator", "verb": "restart"}]
    assert h.agent("manager", "restart", name="alice")["ok"]
    assert [(s["by"], s["verb"]) for s in taken_starts(h)] == [("manager", "restart")]
    assert h.admin("stop", name="alice")["ok"]
    assert taken_starts(h) == []
    assert h.admin("start", name="alice")["ok"]
    assert h.admin("start", name="alice")["ok"]           # running already: no start
    assert [(s["by"], s["verb"]) for s in taken_starts(h)] == [("operator", "start")]
    assert h.admin("rebuild", name="alice")["ok"]
    assert [s["verb"] for s in taken_starts(h)] == ["rebuild"]


def test_a_harness_the_crash_watch_restarts_hears_it_crashed(hive):
    h = hive
    wait_for(lambda: harness_pid(h), 20, what="alice's harness")
    os.kill(harness_pid(h), signal.SIGKILL)
    starts = wait_for(lambda: taken_starts(h), 20, what="the restart's message")
    assert starts == [{"event": "started", "agent": "alice", "reason": "crash", "rc": -9,
                       "attempt": 1}]
    assert taken_starts(h) == []


def test_a_host_restart_tells_every_agent_it_started(hive):
    h = hive
    h.stop()
    h.start()
    wait_for(lambda: running(h) and running(h, "manager"), 20, what="both agents running")
    for name in ("alice", "manager"):
        assert [s["reason"] for s in taken_starts(h, name)] == ["host"]


def test_an_approved_config_says_which_commit_it_restarted_on(hive):
    h = hive
    config = h.root / "lib" / "agents" / "alice" / "config"
    sha = commit_config(config, allowed_recipients=["operator"])
    aid = h.agent("manager", "request_apply_commit", agent="alice", commit_ref=sha)["id"]
    assert h.admin("approve", id=aid)["ok"]
    assert taken_starts(h) == [{"event": "started", "agent": "alice", "reason": "config",
                                "tag": f"approved/{aid}", "sha": sha}]
    assert git(h.root / "lib" / "applied" / "alice", "rev-parse", "HEAD") == sha


def test_a_config_rolled_back_after_a_crash_says_what_it_runs_again(hive):
    h = hive
    before = git(h.root / "lib" / "applied" / "alice", "rev-parse", "HEAD")
    sha = commit_config(h.root / "lib" / "agents" / "alice" / "config", model="sonnet")
    aid = h.agent("manager", "request_apply_commit", agent="alice", commit_ref=sha)["id"]
    assert h.admin("approve", id=aid)["ok"]
    assert [s["reason"] for s in taken_starts(h)] == ["config"]
    wait_for(lambda: (row(h)["rollout"] or {}).get("ready_at"), 20, what="alice up on it")
    os.kill(harness_pid(h), signal.SIGKILL)
    starts = wait_for(lambda: taken_starts(h), 20, what="the rollback's message")
    assert starts == [{"event": "started", "agent": "alice", "reason": "rollback",
                       "tag": f"failed/{aid}", "sha": before}]


def test_a_started_event_reads_as_one_sentence_in_recv_and_on_the_dashboard():
    body = json.dumps({"event": "started", "agent": "alice", "reason": "crash", "rc": 1,
                       "attempt": 2})
    text = format_message({"id": 7, "from": "system", "body": body})
    assert text.splitlines()[0] == ("message #7 from system (hive system event `started`: "
                                    "restarted after a crash (exit code 1, attempt 2); the "
                                    "JSON below describes it)")
    assert event_line({"event": "started", "reason": "config", "tag": "approved/3",
                       "sha": "0123456789abcdef"}) == ("restarted on config approved/3 "
                                                       "(0123456789ab)")
    assert event_line({"event": "started", "reason": "operator", "by": "manager",
                       "verb": "restart"}) == "manager ran `restart`"
    assert event_line({"event": "spawned", "reason": "host"}) is None
    assert system_event(body) == ("started", "restarted after a crash (exit code 1, attempt 2)")
