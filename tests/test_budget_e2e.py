"""Daily budgets end to end: a real host, real harnesses and the real claude CLI on the
scripted API, whose usage numbers give each turn's cost. A turn that crosses the budget
parks the agent, the manager hears budget_reached, a further message is held, and
`ctl budget NAME --raise` hands it over."""

import json
import time

from anthropic_stub import Stub
from hive import wait_for
from test_ctl import ctl
from test_e2e import row, spawn, start_hive, stats_rows

BUDGET = 0.5
# claude 2.1.330 prices this turn (on haiku) at $1.0025: twice the budget.
EXPENSIVE = {"input_tokens": 2_000_000, "output_tokens": 1000, "cache_read_input_tokens": 0,
             "cache_creation_input_tokens": 0}


def budget_row(h, name):
    return next(b for b in h.admin("budget")["budgets"] if b["name"] == name)


def budget_events(messages):
    out = []
    for m in messages:
        if m["from"] == "system":
            body = json.loads(m["body"])
            if body.get("event") == "budget_reached":
                out.append(body)
    return out


def prompts_with(stub, text):
    return [r for r in stub.main_requests() if text in (r.get("last_user_text") or "")]


def test_a_turn_that_crosses_the_budget_parks_the_agent_until_the_operator_raises_it():
    with Stub() as stub:
        h = start_hive(stub, HYPERHIVE_DAILY_BUDGET_USD=str(BUDGET))
        try:
            spawn(h, "alice")
            stub.add_rule("expensive work", agent="alice",
                          steps=[{"text": "done, at a price", "usage": EXPENSIVE}])
            stub.add_rule("the second job", agent="alice", steps=[{"text": "second done"}])
            assert h.admin("send", to="alice", body="expensive work")["ok"]

            wait_for(lambda: budget_row(h, "alice")["held"], timeout=90,
                     what="alice held by her budget")
            cost = sum(r["cost_usd"] for r in stats_rows(h, "alice"))
            spent = budget_row(h, "alice")
            assert cost > BUDGET
            assert spent["spent_usd"] == round(cost, 6) and spent["limit_usd"] == BUDGET
            assert row(h, "alice")["over_budget"] is True

            # The manager and the operator are told once.
            told = wait_for(lambda: budget_events(h.agent("manager", "recent", limit=50)
                                                  ["messages"]), timeout=30,
                            what="budget_reached to the manager")
            assert [(e["agent"], e["budget_usd"]) for e in told] == [("alice", BUDGET)]
            inbox = h.admin("inbox", limit=50)["messages"]
            assert [e["agent"] for e in budget_events(inbox)] == ["alice"]

            # A further message queues and is not handed over.
            assert h.admin("send", to="alice", body="the second job")["ok"]
            time.sleep(3)
            assert prompts_with(stub, "the second job") == []
            assert h.agent("alice", "status")["unread"] == 1

            status = ctl("status", root=h.root)
            assert next(line for line in status.stdout.splitlines()
                        if line.startswith("alice")).split()[3] == "budget"

            listed = ctl("budget", root=h.root)
            assert listed.returncode == 0, listed.stderr
            assert "alice" in listed.stdout and "HELD" in listed.stdout

            raised = ctl("budget", "alice", "--raise", "100", root=h.root)
            assert raised.returncode == 0, raised.stderr
            assert "raised +$100.00" in raised.stdout and "HELD" not in raised.stdout
            wait_for(lambda: prompts_with(stub, "the second job"), timeout=60,
                     what="the held message handed to claude")
            wait_for(lambda: budget_row(h, "alice")["turns"] == 2, timeout=30,
                     what="the second turn's cost")
            assert budget_row(h, "alice")["held"] is False
            assert len(budget_events(h.agent("manager", "recent", limit=50)["messages"])) == 1
        finally:
            h.stop()


def test_ctl_budget_refuses_what_makes_no_sense(host):
    nothing = ctl("budget", "alice", "--raise", "5", root=host.root)
    assert nothing.returncode == 1 and "no agent named" in nothing.stderr
    no_budget = ctl("budget", "manager", "--raise", "5", root=host.root)
    assert no_budget.returncode == 1 and "no daily budget" in no_budget.stderr
    negative = ctl("budget", "manager", "--raise", "-5", root=host.root)
    assert negative.returncode == 1 and "raise_usd" in negative.stderr
    lifted = ctl("budget", "manager", "--lift", root=host.root)
    assert lifted.returncode == 0 and "lifted" in lifted.stdout
