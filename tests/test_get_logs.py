"""The manager's `get_logs` against a real host and a real journald: what it reads, its
bounds, the attacks on it, and the MCP tool that carries it."""

import os
import subprocess
import uuid

import pytest

from hive import request
from hyperhive import journal, replies
from hyperhive.bounds import MAX_LOG_BYTES, MAX_LOG_LINES
from hyperhive.mcp_server import build_server
from journald import entries
from test_attacks_bounds import still_serving
from test_mcp_server import call, ok, refused


def get_logs(h, who="manager", **fields):
    return request(h.agent_sock(who), {"cmd": "get_logs", **fields})


def write(name, message, role="agent"):
    """A record as an agent's side writes it (role `host`: as the host writes about it)."""
    from systemd import journal as sd_journal
    sd_journal.send(message, SYSLOG_IDENTIFIER="hyperhive", HIVE_AGENT=name, HIVE_ROLE=role)


@pytest.fixture
def hive(host_with_alice):
    assert host_with_alice.admin("spawn", name="bob")["ok"]
    return host_with_alice


# What it reads ################################################################

def test_the_manager_reads_an_agents_own_side_and_nothing_else(hive, journald):
    mark = uuid.uuid4().hex
    write("alice", f"alice harness {mark}")
    write("alice", f"alice tools {mark}", role="mcp")
    write("alice", f"host about alice {mark}", role="host")
    write("bob", f"for bob {mark}")
    write("alice", f"alice last {mark}")
    entries("HIVE_AGENT=alice", f"MESSAGE=alice last {mark}")
    reply = get_logs(hive, name="alice", lines=MAX_LOG_LINES)
    assert reply["ok"] and reply["name"] == "alice" and reply["cut"] is False, reply
    mine = [line for line in reply["text"].splitlines() if mark in line]
    assert [line.split(": ", 1)[1] for line in mine] == [
        f"alice harness {mark}", f"alice tools {mark}", f"alice last {mark}"]


def test_the_manager_reads_its_own_records_too(hive, journald):
    mark = uuid.uuid4().hex
    write("manager", f"manager turn failed {mark}", role="manager")
    entries("HIVE_AGENT=manager", f"MESSAGE=manager turn failed {mark}")
    reply = get_logs(hive, name="manager", lines=5)
    assert reply["ok"] and f"manager turn failed {mark}" in reply["text"], reply


def test_lines_count_records_and_bytes_are_cut_from_the_oldest_end(hive, journald):
    name = "bob"
    mark = uuid.uuid4().hex
    for i in range(200):
        write(name, f"{i:03d} {mark} " + "x" * 400)
    entries("HIVE_AGENT=bob", f"MESSAGE=199 {mark} " + "x" * 400)
    three = get_logs(hive, name=name, lines=3)
    assert three["cut"] is False
    assert [line.split(": ", 1)[1][:3] for line in three["text"].splitlines()] == [
        "197", "198", "199"]
    full = get_logs(hive, name=name, lines=MAX_LOG_LINES)
    assert full["cut"] is True
    assert len(full["text"].encode()) <= MAX_LOG_BYTES
    assert full["text"].splitlines()[-1].split(": ", 1)[1].startswith(f"199 {mark}")
    assert f"000 {mark}" not in full["text"]
    assert get_logs(hive, name=name)["text"].count(mark) == 100


def test_a_record_dressed_as_another_agents_or_the_hosts_stays_a_line_of_its_own(hive, journald):
    """The query picks records by their fields, never by their text: a message carrying a
    forged header or field stays one indented line of alice's record."""
    mark = uuid.uuid4().hex
    forged = f"ok {mark}\n2026-01-01T00:00:00+00:00 host hyperhive[1]: HIVE_AGENT=bob host secret"
    write("alice", forged)
    write("bob", f"bob private {mark}")
    entries("HIVE_AGENT=alice", f"MESSAGE={forged}")
    text = get_logs(hive, name="alice", lines=MAX_LOG_LINES)["text"]
    assert f"bob private {mark}" not in text
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith(f": ok {mark}"))
    assert lines[at + 1].startswith(" ") and lines[at + 1].strip().startswith("2026-01-01")


def write_as(uid, name, message, role="agent"):
    """A record with an agent's fields, written by another uid (`logger --journald` sets
    whatever fields it is given; journald stamps `_UID` itself)."""
    fields = f"MESSAGE={message}\nSYSLOG_IDENTIFIER=hyperhive\nHIVE_AGENT={name}\nHIVE_ROLE={role}\n"
    subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    "logger", "--journald"], input=fields, text=True, check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="agents have uids of their own only as root")
def test_a_record_another_agents_claude_writes_with_alices_fields_is_not_alices(hive, journald):
    mark = uuid.uuid4().hex
    agents = hive.root / "lib" / "agents"
    alice_claude, bob_claude = ((agents / n / "state").stat().st_uid for n in ("alice", "bob"))
    assert alice_claude != bob_claude and 0 not in (alice_claude, bob_claude)
    write_as(bob_claude, "alice", f"forged by bob {mark}")
    write_as(alice_claude, "alice", f"alice's own tools {mark}", role="mcp")
    write("alice", f"alice harness {mark}")
    entries("HIVE_AGENT=alice", f"MESSAGE=alice harness {mark}")
    text = get_logs(hive, name="alice", lines=MAX_LOG_LINES)["text"]
    assert f"alice's own tools {mark}" in text and f"alice harness {mark}" in text
    assert f"forged by bob {mark}" not in text


# Bounds and attacks ###########################################################

HOSTILE_NAMES = [
    ("../x", "bad_args"), ("*", "bad_args"), ("A", "bad_args"), ("a" * 300, "bad_args"),
    ("alice\nHIVE_ROLE=host", "bad_args"), ("alice HIVE_AGENT=bob", "bad_args"),
    ("", "bad_args"), (7, "bad_args"), (None, "bad_args"),
    ("operator", "not_found"), ("host", "not_found"), ("ghost", "not_found")]
HOSTILE_LINES = [0, -1, MAX_LOG_LINES + 1, 10 ** 12, "abc", "5", 1.5, [1], {"n": 1}]


def test_a_name_that_is_no_live_agent_is_refused(host_with_alice):
    h = host_with_alice
    for name, code in HOSTILE_NAMES:
        reply = get_logs(h, name=name)
        assert reply["ok"] is False and reply["code"] == code, (name, reply)
    still_serving(h, "alice")


def test_a_line_count_outside_one_to_the_bound_is_refused(host_with_alice):
    h = host_with_alice
    for lines in HOSTILE_LINES:
        reply = get_logs(h, name="alice", lines=lines)
        assert reply["ok"] is False and reply["code"] == "bad_args", (lines, reply)
        assert "lines" in reply["error"]
    still_serving(h, "alice")


def test_an_agents_socket_does_not_offer_it(host_with_alice):
    h = host_with_alice
    reply = get_logs(h, who="alice", name="manager")
    assert reply["ok"] is False and reply["code"] == "unknown_cmd", reply
    assert "get_logs" not in request(h.agent_sock("alice"), {"cmd": "hello"})["cmds"]
    assert "get_logs" in request(h.agent_sock("manager"), {"cmd": "hello"})["cmds"]
    assert request(h.sock, {"cmd": "get_logs", "name": "alice"})["code"] == "unknown_cmd"


# The MCP tool #################################################################

def test_the_manager_tool_reads_the_journal(hive, journald):
    mark = uuid.uuid4().hex
    write("alice", f"seen through the tool {mark}")
    entries("HIVE_AGENT=alice", f"MESSAGE=seen through the tool {mark}")
    server = build_server(hive.agent_sock("manager"), manager=True)
    assert ok(server, "get_logs", name="alice", lines=1).endswith(f"seen through the tool {mark}")
    assert "not valid" in refused(server, "get_logs", name="../x")
    agent = build_server(hive.agent_sock("alice"), manager=False)
    text, is_error = call(agent, "get_logs", name="manager")
    assert is_error and text == "Unknown tool: get_logs"


def test_the_reply_text_says_when_lines_were_cut_or_there_were_none():
    assert replies.format_logs({"text": "a\nb", "cut": False}, name="alice") == "a\nb"
    assert replies.format_logs({"text": "", "cut": False}, name="alice") == \
        "(no journal records for alice)"
    assert replies.format_logs({"text": "b", "cut": True}, name="alice") == \
        f"[older lines cut: only the newest {MAX_LOG_BYTES // 1024} KiB fit]\nb"


def test_last_bytes_keeps_the_newest_lines_that_fit():
    assert journal.last_bytes(["aaa", "bb", "c"], 5) == ("bb\nc", True)
    assert journal.last_bytes(["aaa", "bb", "c"], 100) == ("aaa\nbb\nc", False)
    assert journal.last_bytes(["é"], 3) == ("é", False)
    assert journal.last_bytes([], 10) == ("", False)
