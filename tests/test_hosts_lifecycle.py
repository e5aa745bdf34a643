"""Lifecycle verbs across hosts: a verb for an agent of another host is carried out by
its home host (a work row, LISTEN/NOTIFY), and answers as a local call would; a stopped
agent moves to another host. Real host processes on one real PostgreSQL database."""

import http.client
import json
import shutil
import subprocess
import time

import psycopg2
import pytest
from multihost import ok, rows_by_name, start_host

from hive import commit_config, free_port, git, wait_for


def bob_runs(*hosts, running=True):
    def seen():
        return all(rows_by_name(h)["bob"]["running"] is running for h in hosts)
    wait_for(seen, 15, what=f"bob's row says running={running} on every host")


def test_a_spawn_asked_of_north_for_south_runs_the_agent_on_south(hosts):
    north, south = hosts
    ok(north.admin("spawn", name="carol", host="south"))
    assert rows_by_name(north)["carol"]["host"] == "south"
    wait_for(lambda: (south.root / "run/agents/carol/broker.sock").exists(), 10,
             what="carol's socket on south")
    assert not (north.root / "lib/agents/carol").exists()
    out = north.ctl("spawn", "dave", "--host", "south")
    assert out.returncode == 0, out.stderr
    assert rows_by_name(south)["dave"]["host"] == "south"
    refused = north.admin("spawn", name="erin", host="nowhere")
    assert (refused["code"], "nowhere" in refused["error"]) == ("not_found", True)


def test_north_stops_starts_and_restarts_bob_who_runs_on_south(hosts):
    north, south = hosts
    bob_runs(north, south)
    stopped = ok(north.admin("stop", name="bob"))
    assert (stopped["name"], stopped["running"]) == ("bob", False)
    assert rows_by_name(south)["bob"]["running"] is False, "stopped on south before the reply"
    bob_runs(north, south, running=False)
    assert ok(north.admin("start", name="bob"))["running"] is True
    assert rows_by_name(south)["bob"]["running"] is True
    bob_runs(north, south)
    ok(north.admin("restart", name="bob"))
    bob_runs(north, south)
    assert rows_by_name(north)["bob"]["host"] == "south"


def test_the_managers_verbs_and_a_refusal_come_back_from_the_home_host(hosts):
    north, south = hosts
    bob_runs(north)
    assert ok(north.agent("manager", "stop", name="bob"))["running"] is False
    assert rows_by_name(south)["bob"]["running"] is False
    assert ok(north.agent("manager", "rebuild", name="bob"))["running"] is True
    assert rows_by_name(south)["bob"]["running"] is True
    # South's own refusal, word for word: the manager is north's, and cannot be destroyed.
    refused = south.admin("destroy", name="manager")
    assert (refused["code"], refused["error"]) == ("forbidden",
                                                   "the manager cannot be destroyed")


def test_north_destroys_revives_and_purges_bob_of_south(hosts):
    north, south = hosts
    destroyed = ok(north.admin("destroy", name="bob"))
    assert (destroyed["name"], destroyed["purged"]) == ("bob", False)
    assert "bob" not in ok(south.admin("list"))["agents"]
    wait_for(lambda: "bob" not in ok(north.admin("list"))["agents"], 5,
             what="north forgets bob")
    assert (south.root / "lib" / "agents" / "bob").is_dir(), "its state is kept on south"
    # Its kept state is south's: a revive and a purge asked on north are carried out there.
    ok(north.admin("spawn", name="bob"))
    assert rows_by_name(north)["bob"]["host"] == "south"
    assert "bob" in ok(south.admin("list"))["agents"]
    ok(north.admin("destroy", name="bob", purge=True))
    assert not (south.root / "lib" / "agents" / "bob").exists()


def test_north_s_dashboard_stops_and_starts_bob(hive_url):
    north = start_host(hive_url, "north", dashboard_port=free_port())
    south = None
    try:
        south = start_host(hive_url, "south")
        ok(south.admin("spawn", name="bob"))
        bob_runs(north)
        assert dashboard_action(north, "/stop/bob")["running"] is False
        assert rows_by_name(south)["bob"]["running"] is False
        assert dashboard_action(north, "/start/bob")["running"] is True
        assert rows_by_name(south)["bob"]["running"] is True
    finally:
        for h in (north, south):
            if h is not None:
                h.stop()
                shutil.rmtree(h.root, ignore_errors=True)


def dashboard_action(host, path):
    conn = http.client.HTTPConnection("127.0.0.1", host.dashboard_port, timeout=30)
    try:
        conn.request("POST", path, body="", headers={
            "Cookie": host.cookie, "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded"})
        res = conn.getresponse()
        reply = json.loads(res.read())
    finally:
        conn.close()
    assert res.status == 200 and reply["ok"] is True, (res.status, reply)
    return reply


def test_work_asked_while_its_host_is_cut_off_is_taken_on_reconnect(hosts, hive_url):
    north, south = hosts
    bob_runs(north)
    # South's LISTEN connection is cut: the stop's NOTIFY goes out while it is away, so
    # only its reconnect's look at the work table finds the row.
    with psycopg2.connect(hive_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'hyperhive listen south'")
        assert cur.fetchall() == [(True,)]
    started = time.monotonic()
    assert ok(north.admin("stop", name="bob"))["running"] is False
    assert time.monotonic() - started < 5
    assert rows_by_name(south)["bob"]["running"] is False


def test_a_verb_for_an_agent_of_a_killed_host_answers_unavailable_at_once(hosts):
    north, south = hosts
    bob_runs(north)
    south.kill()
    wait_for(lambda: rows_by_name(north)["bob"]["host_down"], 15, what="bob shown down")
    started = time.monotonic()
    refused = north.admin("stop", name="bob")
    assert time.monotonic() - started < 2
    assert refused["code"] == "unavailable"
    assert "'south' is down" in refused["error"]


def test_a_verb_asked_as_its_host_dies_answers_unavailable_within_seconds(hosts):
    north, south = hosts
    bob_runs(north)
    south.kill()
    started = time.monotonic()
    refused = north.admin("restart", name="bob")
    assert refused["code"] == "unavailable", refused
    assert "'south' is down" in refused["error"]
    assert time.monotonic() - started < 12


def test_a_running_agent_is_not_moved(hosts):
    north, _south = hosts
    bob_runs(north)
    refused = north.admin("move", name="bob", host="north")
    assert refused["code"] == "conflict"
    assert "'bob' is running; stop it first" in refused["error"]
    assert north.admin("move", name="bob", host="nowhere")["code"] == "not_found"
    assert north.admin("move", name="bob", host="south")["code"] == "conflict"


def test_a_stopped_agent_moves_to_a_host_that_shares_storage(hosts):
    north, south = hosts
    ok(south.admin("stop", name="bob"))
    sent = ok(north.agent("alice", "send", to="bob", body="read before the move"))["id"]
    assert [m["id"] for m in ok(south.agent("bob", "recv"))["messages"]] == [sent]
    moved = ok(north.admin("move", name="bob", host="north"))
    assert (moved["name"], moved["host"], moved["from"]) == ("bob", "north", "south")
    assert (north.root / "lib" / "agents" / "bob" / "state").is_dir()
    assert (north.root / "lib" / "applied" / "bob" / "agent.json").is_file()
    assert not (south.root / "lib" / "agents" / "bob").exists()
    assert rows_by_name(north)["bob"]["host"] == "north"
    wait_for(lambda: rows_by_name(south)["bob"]["host"] == "north", 5,
             what="south hears bob moved")
    assert not south.agent_sock("bob").exists(), "south closed bob's sockets"
    # What bob's harness does when it starts: its unacked message comes back flagged.
    ok(north.agent("bob", "requeue"))
    again = ok(north.agent("bob", "recv"))["messages"]
    assert [(m["id"], m["redelivered"]) for m in again] == [(sent, True)]
    ok(north.agent("bob", "ack", ids=[sent]))
    ok(south.admin("start", name="bob"))          # from south: carried out by north now
    bob_runs(north, south)
    assert rows_by_name(south)["bob"]["host_down"] is False


def test_an_agent_of_a_dead_host_is_taken_over_with_its_unacked_messages(hosts):
    north, south = hosts
    sent = ok(north.agent("alice", "send", to="bob", body="taken, never acked"))["id"]
    assert [m["id"] for m in ok(south.agent("bob", "recv"))["messages"]] == [sent]
    bob_runs(north)
    south.kill()
    wait_for(lambda: rows_by_name(north)["bob"]["host_down"], 15, what="bob shown down")
    moved = ok(north.admin("move", name="bob", host="north"))
    assert (moved["host"], moved["from"]) == ("north", "south")
    ok(north.agent("bob", "requeue"))       # what bob's harness does when it starts
    again = ok(north.agent("bob", "recv"))["messages"]
    assert [(m["id"], m["redelivered"]) for m in again] == [(sent, True)]
    ok(north.admin("start", name="bob"))
    bob_runs(north)
    south.start()                           # back: bob is north's now, not south's
    assert rows_by_name(south)["bob"]["host"] == "north"
    bob_runs(south)
    with pytest.raises(ConnectionRefusedError):     # its old socket file: no one answers
        south.agent("bob", "hello")


def test_ctl_move_says_plainly_when_the_hosts_do_not_share_storage(hosts):
    north, south = hosts
    ok(south.admin("stop", name="bob"))
    lib = south.root / "lib"
    hidden = south.root / "elsewhere"
    hidden.mkdir()
    for kind in ("agents", "applied"):          # out of north's sight, as on another disk
        (lib / kind / "bob").rename(hidden / kind)
    done = north.ctl("move", "bob", "north")
    assert done.returncode == 1
    assert "do not share storage" in done.stdout + done.stderr
    assert f"south:{lib / 'agents' / 'bob'} to north:{north.root / 'lib' / 'agents' / 'bob'}" \
        in done.stdout + done.stderr
    assert rows_by_name(north)["bob"]["host"] == "south"
    ok(north.admin("stop", name="bob"))     # south holds bob no more: the move failed
    # The operator copies them over by hand, then moves it again.
    for kind in ("agents", "applied"):
        subprocess.run(["cp", "-a", str(hidden / kind), str(north.root / "lib" / kind / "bob")],
                       check=True)
    done = north.ctl("move", "bob", "north")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bob now lives on host north" in done.stdout
    ok(north.admin("start", name="bob"))
    bob_runs(north, south)


def test_an_apply_commit_for_bob_is_proposed_and_approved_from_north(hosts):
    north, south = hosts
    config = south.root / "lib" / "agents" / "bob" / "config"
    applied = south.root / "lib" / "applied" / "bob"
    sha = commit_config(config, allowed_recipients=["operator"])
    asked = ok(north.agent("manager", "request_apply_commit", agent="bob", commit_ref=sha,
                           description="keep bob quiet"))
    assert asked["sha"] == sha
    approval = ok(north.admin("pending"))["approvals"][0]
    assert (approval["agent"], approval["kind"]) == ("bob", "apply_commit")
    assert "allowed_recipients" in approval["diff"]
    approved = ok(north.admin("approve", id=asked["id"]))
    assert (approved["status"], approved["rollout"]) == ("approved", "settling")
    assert git(applied, "rev-parse", "HEAD") == sha, "applied on south, bob's home"
    wait_for(lambda: south.agent("bob", "send", to="alice", body="x")["code"] == "forbidden",
             15, what="bob runs on the new config")
    # A denial of one acts on bob's repos too: the tag is south's.
    sha = commit_config(config, allowed_recipients=["operator", "alice"])
    asked = ok(north.agent("manager", "request_apply_commit", agent="bob", commit_ref=sha))
    ok(north.admin("deny", id=asked["id"], note="not now"))
    assert f"denied/{asked['id']}" in git(applied, "tag").split()
