"""Bad input on the real sockets: every line gets its error code, nothing falls over."""

import json
import socket
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hive import HostProcess, read_line, request

CODES = {"bad_json", "too_large", "unknown_cmd", "bad_args", "not_found", "forbidden",
         "conflict", "unavailable", "internal"}


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(path))
    return s


def exchange(sock, raw):
    sock.sendall(raw)
    return json.loads(read_line(sock))


def test_hello_on_every_socket(host_with_alice):
    h = host_with_alice
    admin = request(h.sock, {"cmd": "hello"})
    assert admin["ok"] and admin["v"] == 1 and admin["role"] == "admin"
    assert {"approve", "subscribe", "spawn"} <= set(admin["cmds"])
    assert request(h.agent_sock("alice"), {"cmd": "hello"})["name"] == "alice"


def test_malformed_lines_keep_the_connection(host):
    with connect(host.sock) as s:
        assert exchange(s, b"{not json\n")["code"] == "bad_json"
        assert exchange(s, b"[1, 2]\n")["code"] == "bad_json"
        assert exchange(s, b"\"text\"\n")["code"] == "bad_json"
        assert exchange(s, b"\xff\xfe\n")["code"] == "bad_json"
        assert exchange(s, b'{"cmd": "frobnicate"}\n')["code"] == "unknown_cmd"
        assert exchange(s, b'{"nocmd": 1}\n')["code"] == "bad_args"
        assert exchange(s, b'{"cmd": 7}\n')["code"] == "bad_args"
        assert exchange(s, b'{"cmd": "hello"}\n')["ok"] is True


def test_wrong_types_are_bad_args(host_with_alice):
    h = host_with_alice
    cases = [
        (h.sock, {"cmd": "send", "to": "alice", "body": 5}),
        (h.sock, {"cmd": "send", "to": ["alice"], "body": "x"}),
        (h.sock, {"cmd": "approve", "id": "1"}),
        (h.sock, {"cmd": "approve", "id": True}),
        (h.sock, {"cmd": "set_paused", "name": "alice", "paused": "yes"}),
        (h.agent_sock("alice"), {"cmd": "recv", "max": "x"}),
        (h.agent_sock("alice"), {"cmd": "recv", "max": 0}),
        (h.agent_sock("alice"), {"cmd": "recv", "max": 33}),
        (h.agent_sock("alice"), {"cmd": "recv", "wait_seconds": -1}),
        (h.agent_sock("alice"), {"cmd": "ack", "ids": [1, "two"]}),
        (h.agent_sock("alice"), {"cmd": "send", "to": "operator", "body": ""}),
        (h.agent_sock("alice"), {"cmd": "send", "to": "operator"}),
    ]
    for path, req in cases:
        reply = request(path, req)
        assert reply["ok"] is False and reply["code"] == "bad_args", (req, reply)
        assert reply["error"] and reply["v"] == 1


def test_oversized_line_closes_only_that_connection(host):
    big = b'{"cmd":"send","to":"manager","body":"' + b"x" * (2 << 20) + b'"}\n'
    with connect(host.sock) as s:
        try:
            s.sendall(big)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = json.loads(read_line(s))
        assert reply["code"] == "too_large"
        try:
            assert s.recv(100) == b""          # closed by the server
        except ConnectionResetError:
            pass                               # closed with unread input: also closed
    assert request(host.sock, {"cmd": "hello"})["ok"]
    assert all("x" * 100 not in m["body"] for m in host.admin("inbox")["messages"])


def test_half_a_line_then_disconnect(host):
    with connect(host.sock) as s:
        s.sendall(b'{"cmd": "send", "to": "manager", "bo')
    assert request(host.sock, {"cmd": "list"})["agents"] == ["manager"]
    recent = host.agent("manager", "recent", limit=50)["messages"]
    assert not [m for m in recent if m["from"] == "operator"]


def test_a_thousand_garbage_lines(host):
    with connect(host.sock) as s:
        s.sendall(b"".join(b"garbage %d }{\n" % i for i in range(1000)))
        buf = b""
        while buf.count(b"\n") < 1000:
            buf += s.recv(65536)
        replies = [json.loads(line) for line in buf.splitlines()]
    assert len(replies) == 1000 and all(r["code"] == "bad_json" for r in replies)
    assert request(host.sock, {"cmd": "hello"})["ok"]


@pytest.mark.parametrize("name", ["../x", "A", "a/b", "x" * 100, "", ".", "a b", "-a",
                                  "operator", "sys\x00tem", "../../etc"])
def test_bad_names_touch_nothing(host, name):
    before = sorted(p.relative_to(host.root) for p in host.root.rglob("*"))
    for cmd in ("spawn", "request_spawn", "start", "stop", "destroy", "purge"):
        reply = host.admin(cmd, name=name)
        assert reply["ok"] is False and reply["code"] in ("bad_args", "not_found"), (cmd, reply)
    after = sorted(p.relative_to(host.root) for p in host.root.rglob("*")
                   if p.name != "host.log" and "-wal" not in p.name and "-shm" not in p.name)
    assert set(after) <= set(before) | {p for p in after if str(p).startswith("lib/broker")}


def test_server_survives_a_peer_that_dies_while_parked(host_with_alice):
    h = host_with_alice
    s = connect(h.agent_sock("alice"))
    s.sendall(b'{"cmd": "recv", "wait_seconds": 30}\n')
    s.close()
    h.admin("send", to="alice", body="for the next reader")
    got = request(h.agent_sock("alice"), {"cmd": "recv", "wait_seconds": 5})
    assert [m["body"] for m in got["messages"]] == ["for the next reader"]


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=10)
_fields = st.sampled_from(["to", "body", "name", "id", "ids", "max", "wait_seconds", "answer",
                           "question", "options", "multi", "ttl_seconds", "message",
                           "delay_seconds", "at", "file_path", "text", "paused", "purge",
                           "limit", "kinds", "note", "description", "in_reply_to", "from",
                           "query", "order", "agent"])
_cmds = st.sampled_from(["send", "recv", "ack", "requeue", "status", "recent", "wake", "ask",
                         "answer", "remind", "set_status", "open_threads", "list", "pending",
                         "approve", "deny", "inbox", "questions", "set_paused", "hello",
                         "request_spawn", "cancel_question", "search", "nope"]) | st.text(
                             alphabet=string.ascii_lowercase, max_size=6)


@pytest.fixture(scope="module")
def fuzz_host():
    h = HostProcess().start()
    assert h.admin("spawn", name="alice")["ok"]
    yield h
    h.stop()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(cmd=_cmds, fields=st.dictionaries(_fields, _values, max_size=5),
       on_agent=st.booleans())
def test_any_request_gets_a_well_formed_reply(fuzz_host, cmd, fields, on_agent):
    fields.pop("wait_seconds", None)     # parked receives would only slow the search down
    path = fuzz_host.agent_sock("alice") if on_agent else fuzz_host.sock
    if cmd in ("spawn", "destroy", "purge", "stop", "restart", "rebuild", "start"):
        cmd = "status"
    reply = request(path, {"cmd": cmd, **fields})
    assert reply["v"] == 1 and isinstance(reply["ok"], bool)
    if not reply["ok"]:
        assert reply["code"] in CODES and reply["code"] != "internal", reply
        assert isinstance(reply["error"], str) and reply["error"]
