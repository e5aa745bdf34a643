"""Approvals in process, on a real sqlite file: the queue, its bounds, decisions that only
one caller can win, and what a rollout came to. (Carrying an approval out needs a
backend: test_drafts.py, test_rollout.py, test_resolution_races.py boot a host.)"""

import pytest

from brokers import race, system_events, take
from hyperhive.errors import Conflict, NotFound


def test_a_spawn_request_waits_once_per_name(broker):
    reply = broker.approvals.request_spawn("manager", "carol", "tests things")
    pending = broker.approvals.pending()["approvals"]
    assert [(a["id"], a["kind"], a["agent"]) for a in pending] == [(reply["id"], "spawn", "carol")]
    with pytest.raises(Conflict, match="already waiting"):
        broker.approvals.request_spawn("manager", "carol")
    with pytest.raises(Conflict, match="already exists"):
        broker.approvals.request_spawn("manager", "alice")


def test_racing_spawn_requests_for_one_name_queue_one_approval(broker):
    results = race([lambda: broker.approvals.request_spawn("operator", "dave")] * 8)
    assert len([r for r in results if not isinstance(r, Exception)]) == 1, results
    assert len(broker.approvals.pending()["approvals"]) == 1


def test_the_manager_may_keep_only_so_many_approvals_waiting(broker):
    for i in range(20):
        broker.approvals.request_spawn("manager", f"agent{i}")
    with pytest.raises(Conflict, match="approvals already wait"):
        broker.approvals.request_spawn("manager", "onemore")
    broker.approvals.request_spawn("operator", "operators")


def test_a_decision_is_made_once_and_racing_ones_hear_it_was_made(broker):
    aid = broker.approvals.request_spawn("manager", "erin")["id"]
    approval = broker.approvals.waiting(aid)
    results = race([lambda s=s: broker.approvals.decide(approval, s)
                    for s in ("approved", "denied") * 4])
    assert len([r for r in results if not isinstance(r, Exception)]) == 1, results
    assert all(isinstance(r, Conflict) for r in results if r is not None)
    with pytest.raises(Conflict, match="already"):
        broker.approvals.waiting(aid)
    with pytest.raises(NotFound):
        broker.approvals.waiting(999)


def test_destroying_an_agent_cancels_its_pending_approvals(broker):
    aid = broker.approvals.request_spawn("manager", "frank")["id"]
    broker.agents.register("frank")
    broker.agents.unregister("frank")
    assert broker.store.approval(aid)["status"] == "cancelled"


def test_a_failed_rollout_fails_its_approval_and_those_built_on_it(broker):
    first = broker.approvals.request_spawn("operator", "gina")["id"]
    second = broker.approvals.request_spawn("operator", "hank")["id"]
    broker.approvals.rollout_failed(first, "alice", "a" * 40, "apply_commit", "it crashed",
                                    built_on_it=[second])
    assert broker.store.approval(first)["status"] == "failed"
    assert "builds on" in broker.store.approval(second)["note"]
    told = system_events(take(broker, "manager"))
    assert told[0]["event"] == "config_rolled_back" and told[0]["also_failed"] == [second]
    assert system_events(take(broker, "operator"))[0]["reason"] == "it crashed"


def test_a_deployed_rollout_is_announced_with_its_tag(broker):
    broker.approvals.rollout_deployed(7, "alice", "b" * 40, "apply_commit")
    told = system_events(take(broker, "manager"))
    assert told == [{"event": "config_deployed", "id": 7, "agent": "alice",
                     "kind": "apply_commit", "sha": "b" * 40, "tag": "deployed/7"}]
