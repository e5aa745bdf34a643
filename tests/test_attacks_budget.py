"""A hostile agent against its daily budget, on a real host: no agent socket raises or
lifts a budget, a report puts spend on its own agent alone, and a turn's cost is bounded.

(Through claude's door, mcp.sock, neither `budget` nor `report` is passed on at all:
test_attacks_inside.py.)
"""

import json
import socket

import pytest

from hive import HostProcess, clean_env, read_line, wait_for
from test_attacks_bounds import refused, still_serving


@pytest.fixture
def hive():
    h = HostProcess(env={**clean_env(), "HYPERHIVE_DAILY_BUDGET_USD": "1"}).start()
    try:
        for name in ("alice", "bob"):
            assert h.admin("spawn", name=name)["ok"]
        yield h
    finally:
        h.stop()


def spend(h):
    return {b["name"]: b for b in h.admin("budget")["budgets"]}


@pytest.mark.parametrize("who", ["alice", "manager"])
@pytest.mark.parametrize("fields", [{"name": "alice", "raise_usd": 100.0},
                                    {"name": "alice", "lift": True}, {}])
def test_no_agent_socket_takes_the_budget_verb(hive, who, fields):
    h = hive
    h.agent("alice", "report", turn_cost_usd=1.0)
    refused(h.agent(who, "budget", **fields), "unknown_cmd")
    row = spend(h)["alice"]
    assert row["held"] and row["raised_usd"] == 0 and not row["lifted"]
    assert "budget" not in h.agent(who, "hello")["cmds"]
    still_serving(h, "alice", "bob")


def test_a_report_puts_spend_on_the_reporting_agent_alone(hive):
    h = hive
    assert h.agent("alice", "report", turn_cost_usd=0.75, name="bob", agent="bob",
                   caller="bob")["ok"]
    rows = spend(h)
    assert rows["alice"]["spent_usd"] == 0.75 and rows["bob"]["spent_usd"] == 0


@pytest.mark.parametrize("cost", [-0.01, -1000, 1000.01, 1e300, "0.5", True, [1], {"usd": 1}])
def test_a_turn_cost_out_of_its_range_is_refused(hive, cost):
    h = hive
    refused(h.agent("alice", "report", turn_cost_usd=cost), "bad_args", "turn_cost_usd")
    assert spend(h)["alice"]["spent_usd"] == 0
    still_serving(h, "alice", "bob")


@pytest.mark.parametrize("raw", [b'{"cmd": "report", "turn_cost_usd": NaN}\n',
                                 b'{"cmd": "report", "turn_cost_usd": -Infinity}\n'])
def test_a_cost_that_is_not_a_number_is_bad_json(hive, raw):
    h = hive
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(h.agent_sock("alice")))
        s.sendall(raw)
        assert json.loads(read_line(s))["code"] == "bad_json"
    assert spend(h)["alice"]["spent_usd"] == 0


def test_a_held_agents_messages_wait_for_the_operator_not_for_the_agent(hive):
    h = hive
    assert h.agent("alice", "report", turn_cost_usd=1.0)["ok"]
    assert h.admin("send", to="alice", body="held")["ok"]
    # Its own socket takes nothing, however it asks.
    assert h.agent("alice", "recv", wait_seconds=0.2, max=32)["messages"] == []
    assert h.agent("alice", "requeue")["ok"]
    assert h.agent("alice", "recv")["messages"] == []
    assert h.admin("budget", name="alice", raise_usd=1.0)["budget"]["held"] is False
    wait_for(lambda: h.agent("alice", "status")["unread"] == 0
             or h.agent("alice", "recv")["messages"], what="the held message handed over")
