"""Search through a real host: `ctl search`, the admin socket, and an agent's socket and MCP
tool, which see only what that agent sent or received."""

import shutil

import pytest

from hive import HostProcess
from hyperhive.mcp_server import build_server
from test_mcp_server import ok


@pytest.fixture(scope="module")
def hive():
    h = HostProcess().start()
    try:
        for name in ("alice", "bob"):
            assert h.admin("spawn", name=name)["ok"]
            assert h.admin("stop", name=name)["ok"]
        h.ids = {
            "to_alice": h.admin("send", to="alice", body="the kumquat harvest is late")["id"],
            "alice_to_bob": h.agent("alice", "send", to="bob",
                                    body="bob, kumquat crates are in bay 4")["id"],
            "bob_to_manager": h.agent("bob", "send", to="manager",
                                      body="kumquat budget is secret")["id"],
        }
        yield h
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


def test_ctl_search_prints_each_hit_with_its_words_bracketed(hive):
    r = hive.ctl("search", "KUMQUAT")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 6                      # three hits, two lines each, newest first
    assert lines[0].split()[:2] == ["message", f"#{hive.ids['bob_to_manager']}"]
    assert "bob -> manager" in lines[0]
    assert lines[1].strip() == "[kumquat] budget is secret"
    r = hive.ctl("search", "kumquat", "--agent", "alice", "--limit", "1")
    assert r.returncode == 0, r.stderr
    assert f"#{hive.ids['alice_to_bob']}" in r.stdout and len(r.stdout.splitlines()) == 2
    r = hive.ctl("search", "durian")
    assert r.returncode == 0 and r.stdout.strip() == "(no hits)"


def test_ctl_search_refuses_a_query_without_words(hive):
    r = hive.ctl("search", "*:()")
    assert r.returncode != 0
    assert "no words to look for" in r.stderr + r.stdout


def test_an_agents_socket_search_sees_only_its_own_messages(hive):
    got = hive.agent("alice", "search", query="kumquat")
    assert got["ok"], got
    assert {r["id"] for r in got["results"]} == {hive.ids["to_alice"], hive.ids["alice_to_bob"]}
    bob = hive.agent("bob", "search", query="kumquat secret")
    assert [r["id"] for r in bob["results"]] == [hive.ids["bob_to_manager"]]
    hit = bob["results"][0]
    assert (hit["from"], hit["to"], hit["kind"]) == ("bob", "manager", "message")
    assert [hit["snippet"][s:e].lower() for s, e in hit["marks"]] == ["kumquat", "secret"]
    everything = hive.admin("search", query="kumquat")
    assert len(everything["results"]) == 3


def test_the_mcp_search_tool_answers_with_the_agents_own_hits(hive):
    alice = build_server(hive.agent_sock("alice"))
    text = ok(alice, "search", query="kumquat")
    assert f"message #{hive.ids['alice_to_bob']} alice -> bob" in text
    assert "[[kumquat]] crates are in bay 4" in text
    assert "secret" not in text
    assert ok(alice, "search", query="budget") == "(no hits)"
