"""The search tool end to end: the real claude CLI calls it through the harness, and an
agent's search finds what it sent or received and nothing of another agent's."""

from hive import wait_for
from test_e2e import hive, inbox_bodies, spawn, stub  # noqa: F401  (fixtures)


def test_claudes_search_finds_its_own_messages_and_none_of_another_agents(hive, stub):
    spawn(hive, "alice")
    spawn(hive, "bob")
    hive.admin("send", to="bob", body="the walrus safe opens with 7391")
    stub.add_rule(r"find the walrus", agent="alice", steps=[
        {"tool": "mcp__hyperhive__search", "input": {"query": "walrus"}},
        {"tool": "mcp__hyperhive__send", "input": {"to": "operator", "body": "searched"}},
        {"text": "done"}])
    asked = hive.admin("send", to="alice", body="find the walrus notes")["id"]
    wait_for(lambda: "searched" in inbox_bodies(hive), timeout=90, what="alice's search")
    result = next(t for t in stub.tool_results("alice") if "walrus" in t)
    assert f"message #{asked} operator -> alice" in result
    assert "find the [[walrus]] notes" in result
    assert "7391" not in result and "bob" not in result
