"""Messaging through a real host's real sockets: what crosses a process (long-poll over
the wire, identity from the socket, restarts, lifecycle verbs). The broker's own rules are
tested in process in test_broker_messaging.py, test_broker_questions.py and
test_broker_reminders.py."""

import json
import threading
import time

import pytest

from hive import HostProcess, request
from hyperhive.store import Store


# Every test here runs on a host over sqlite and again on one over PostgreSQL.
@pytest.fixture
def host(any_host):
    return any_host


def send_as_operator(host, to, body, **fields):
    reply = host.admin("send", to=to, body=body, **fields)
    assert reply["ok"], reply
    return reply["id"]


def recv(host, name, **fields):
    reply = host.agent(name, "recv", timeout=30, **fields)
    assert reply["ok"], reply
    return reply["messages"]


def system_events(messages):
    return [json.loads(m["body"]) for m in messages if m["from"] == "system"]


def test_peek_returns_at_once(host_with_alice):
    started = time.monotonic()
    assert recv(host_with_alice, "alice") == []
    assert recv(host_with_alice, "alice", wait_seconds=0) == []
    assert time.monotonic() - started < 1


def test_parked_recv_wakes_on_send(host_with_alice):
    h = host_with_alice
    got = {}

    def park():
        started = time.monotonic()
        got["messages"] = recv(h, "alice", wait_seconds=20)
        got["took"] = time.monotonic() - started

    t = threading.Thread(target=park)
    t.start()
    time.sleep(0.5)
    sent_at = time.monotonic()
    send_as_operator(h, "alice", "wake up")
    t.join(10)
    assert [m["body"] for m in got["messages"]] == ["wake up"]
    assert got["took"] < 5 and time.monotonic() - sent_at < 1


def test_parked_recv_times_out_empty(host_with_alice):
    started = time.monotonic()
    assert recv(host_with_alice, "alice", wait_seconds=0.5) == []
    assert 0.4 < time.monotonic() - started < 3


def test_identity_comes_from_the_socket(host_with_alice):
    h = host_with_alice
    hello = h.agent("alice", "hello")
    assert hello["role"] == "agent" and hello["name"] == "alice" and "send" in hello["cmds"]
    assert "approve" not in hello["cmds"]
    reply = request(h.agent_sock("alice"),
                    {"cmd": "send", "to": "operator", "body": "hi", "from": "manager"})
    assert reply["ok"]
    inbox = h.admin("inbox")["messages"]
    assert inbox[0]["from"] == "alice" and inbox[0]["body"] == "hi"
    refused = h.agent("alice", "approve", id=1)
    assert refused["code"] == "unknown_cmd"


def test_reminder_survives_a_host_restart():
    h = HostProcess().start()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        assert h.agent("alice", "remind", message="after restart", delay_seconds=2)["ok"]
        h.stop()
        h.start()
        got = recv(h, "alice", wait_seconds=15)
        if got and got[0]["from"] == "system":       # `started`, posted as the host began
            got += recv(h, "alice", wait_seconds=15)
        assert [m["body"] for m in got if m["from"] != "system"] == ["after restart"]
        h.stop()
        h.start()
        late = recv(h, "alice", wait_seconds=5)
        late += recv(h, "alice", wait_seconds=2)      # past the `started` one
        assert [m for m in late if m["from"] != "system"] == []
    finally:
        h.stop()


def test_allowed_recipients_enforced_by_the_host(host_with_alice):
    h = host_with_alice
    assert h.admin("spawn", name="bob")["ok"]
    applied = h.root / "lib" / "applied" / "alice" / "agent.json"
    config = json.loads(applied.read_text())
    config["allowed_recipients"] = ["operator"]
    applied.write_text(json.dumps(config))
    assert h.admin("rebuild", name="alice")["ok"]
    refused = h.agent("alice", "send", to="bob", body="psst")
    assert refused["code"] == "forbidden"
    assert "manager" in refused["error"] and "relay" in refused["error"]
    assert h.agent("alice", "send", to="*", body="all")["code"] == "forbidden"
    assert h.agent("alice", "send", to="operator", body="ok")["ok"]
    assert h.agent("alice", "send", to="manager", body="ok")["ok"]
    assert h.agent("bob", "send", to="alice", body="bob is unrestricted")["ok"]


def test_status_rows_have_real_values(host_with_alice):
    h = host_with_alice
    send_as_operator(h, "alice", "one")
    h.agent("alice", "remind", message="later", delay_seconds=3600)
    h.agent("alice", "set_status", text="reviewing")
    rows = {r["name"]: r for r in h.admin("status")["agent_statuses"]}
    alice = rows["alice"]
    assert alice["unread"] == 1 and alice["pending_reminders"] == 1
    assert alice["status_text"] == "reviewing" and alice["status_set_at"] > 0
    assert alice["port"] and alice["deployed_sha"] and len(alice["deployed_sha"]) == 12
    for field in ("name", "running", "failed", "paused", "needs_login", "needs_update",
                  "turn_state", "model", "port", "unread", "pending_reminders", "deployed_sha",
                  "status_text", "status_set_at", "last_turn_at"):
        assert field in alice


def test_spawn_approval_flow_tells_the_manager(host):
    reply = host.admin("request_spawn", name="carol", description="tests things")
    assert reply["ok"] and reply["name"] == "carol"
    pending = host.admin("pending")["approvals"]
    assert [(a["id"], a["kind"], a["agent"]) for a in pending] == [(reply["id"], "spawn", "carol")]
    assert host.admin("request_spawn", name="carol")["code"] == "conflict"
    assert host.admin("approve", id=reply["id"])["ok"]
    assert "carol" in host.admin("list")["agents"]
    assert host.admin("approve", id=reply["id"])["code"] == "conflict"
    events = system_events(recv(host, "manager", max=32))
    kinds = [e["event"] for e in events]
    assert "spawned" in kinds and "approval_resolved" in kinds
    denied = host.admin("request_spawn", name="dave")["id"]
    assert host.admin("deny", id=denied, note="not now")["ok"]
    resolved = [e for e in system_events(recv(host, "manager", max=32))
                if e["event"] == "approval_resolved"]
    assert resolved[-1]["status"] == "denied" and resolved[-1]["note"] == "not now"


def test_manager_socket_verbs(host_with_alice):
    h = host_with_alice
    hello = h.agent("manager", "hello")
    assert hello["role"] == "manager" and "request_spawn" in hello["cmds"]
    assert h.agent("manager", "list")["agents"] == ["manager", "alice"]
    assert h.agent("manager", "stop", name="manager")["code"] == "forbidden"
    assert h.agent("manager", "stop", name="alice")["ok"]
    rows = {r["name"]: r for r in h.agent("manager", "status")["agent_statuses"]}
    assert rows["alice"]["running"] is False
    assert h.agent("manager", "start", name="alice")["ok"]
    assert h.agent("manager", "request_spawn", name="erin")["ok"]
    assert h.agent("alice", "request_spawn", name="zed")["code"] == "unknown_cmd"


def test_destroy_keeps_state_and_revive_reuses_it(host_with_alice):
    h = host_with_alice
    state = h.root / "lib" / "agents" / "alice" / "state"
    (state / "notes.md").write_text("remember me")
    assert h.admin("destroy", name="alice")["ok"]
    assert "alice" not in h.admin("list")["agents"]
    assert state.joinpath("notes.md").exists()
    assert h.admin("destroy", name="manager")["code"] == "forbidden"
    assert h.admin("spawn", name="alice")["ok"]
    assert state.joinpath("notes.md").read_text() == "remember me"
    assert h.admin("destroy", name="alice", purge=True)["ok"]
    assert not (h.root / "lib" / "agents" / "alice").exists()


def test_page_port_clash_is_refused_naming_the_other_agent(host):
    # fnv1a32("paas") % 900 == fnv1a32("pahx") % 900: both would hash to the same page port.
    first = host.admin("spawn", name="paas")
    assert first["ok"] and first["port"] == host.port_base + 100 + 454
    assert not (host.root / "lib/agents/paas/port").exists()   # the host keeps it, not a file
    clash = host.admin("spawn", name="pahx")
    assert clash["code"] == "conflict" and "'paas'" in clash["error"]
    assert host.admin("request_spawn", name="pahx")["code"] == "conflict"
    manager = next(r for r in host.admin("status")["agent_statuses"] if r["name"] == "manager")
    assert manager["port"] == host.port_base


def test_subscribe_streams_dashboard_events(host_with_alice):
    import socket as socketlib
    h = host_with_alice
    s = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(h.sock))
    s.sendall(b'{"cmd": "subscribe", "kinds": ["sent", "delivered"]}\n')
    buf = b""

    def next_line():
        nonlocal buf
        while b"\n" not in buf:
            buf += s.recv(65536)
        line, buf = buf.split(b"\n", 1)
        return json.loads(line)
    try:
        assert next_line()["subscribed"] is True
        msg_id = send_as_operator(h, "alice", "watched")
        recv(h, "alice")
        sent, delivered = next_line(), next_line()
        assert (sent["kind"], sent["data"]["id"], sent["data"]["to"]) == ("sent", msg_id, "alice")
        assert (delivered["kind"], delivered["data"]["id"]) == ("delivered", msg_id)
        assert delivered["seq"] > sent["seq"]
    finally:
        s.close()


def test_destroying_an_agent_cancels_its_pending_approvals(host_with_alice):
    import subprocess
    h = host_with_alice
    config = h.root / "lib/agents/alice/config"
    (config / "agent.json").write_text('{"model": "sonnet"}')
    from hyperhive.repos import as_owner
    subprocess.run([*as_owner(config), "git", "-C", str(config), "-c", "user.name=m",
                    "-c", "user.email=m@h", "commit", "-qam", "sonnet"], check=True)
    aid = h.agent("manager", "request_apply_commit", agent="alice", commit_ref="HEAD")["id"]
    other = h.agent("manager", "request_spawn", name="zoe")["id"]
    assert h.admin("destroy", name="alice")["ok"]
    assert [a["id"] for a in h.admin("pending")["approvals"]] == [other]
    store = Store(h.broker_url or h.root / "lib/broker.sqlite")
    try:
        approval = store.approval(aid)
    finally:
        store.close()
    assert (approval["status"], approval["note"]) == ("cancelled", "agent destroyed")


def test_undeliver_puts_back_only_my_messages(host_with_alice):
    h = host_with_alice
    assert h.admin("spawn", name="bob")["ok"]
    a = send_as_operator(h, "alice", "for alice")
    b = send_as_operator(h, "bob", "for bob")
    recv(h, "alice")
    recv(h, "bob")
    assert h.agent("alice", "undeliver", ids=[a, b])["undelivered"] == 1
    again = recv(h, "alice")
    assert [(m["id"], m["redelivered"]) for m in again] == [(a, False)]
    assert recv(h, "bob") == []
    assert h.agent("alice", "undeliver", ids=["x"])["code"] == "bad_args"


def test_a_spawn_on_a_host_this_hive_does_not_have_is_refused(host):
    refused = host.admin("spawn", name="zed", host="elsewhere")
    assert refused["code"] in ("bad_args", "not_found"), refused
    assert "zed" not in host.admin("list")["agents"]
