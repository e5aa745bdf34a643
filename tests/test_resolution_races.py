"""Approvals and questions are decided once: of many resolutions racing on a real host
(the dashboard and ctl at once, say), exactly one is carried out."""

import threading

from hive import request

ROUNDS = 6
RACERS = 8


def race(h, calls):
    """Send every request at once, each on its own connection; their replies."""
    replies = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def call(i, req):
        start.wait()
        replies[i] = request(h.sock, req, timeout=60)
    threads = [threading.Thread(target=call, args=(i, req)) for i, req in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return replies


def test_racing_approvals_of_one_spawn_carry_it_out_once(host):
    for n in range(ROUNDS):
        name = f"racer{n}"
        aid = host.agent("manager", "request_spawn", name=name)["id"]
        replies = race(host, [{"cmd": "approve", "id": aid}] * RACERS)
        won = [r for r in replies if r["ok"]]
        assert len(won) == 1, replies
        for lost in (r for r in replies if not r["ok"]):
            assert lost["code"] == "conflict" and "already approved" in lost["error"], lost
        resolved = [m for m in host.agent("manager", "recent", limit=100)["messages"]
                    if m["from"] == "system" and f'"id": {aid},' in m["body"]
                    and "approval_resolved" in m["body"]]
        assert len(resolved) == 1, resolved


def test_an_approve_and_a_deny_racing_settle_on_one_of_them(host):
    for n in range(ROUNDS):
        aid = host.agent("manager", "request_spawn", name=f"duel{n}")["id"]
        replies = race(host, [{"cmd": "approve", "id": aid}, {"cmd": "deny", "id": aid}] * 4)
        won = [r for r in replies if r["ok"]]
        assert len(won) == 1, replies
        assert all(a["id"] != aid for a in host.admin("pending")["approvals"])
        running = any(r["name"] == f"duel{n}" for r in host.admin("status")["agent_statuses"])
        assert running == (won[0]["status"] == "approved"), (won, running)


def test_racing_answers_to_one_question_reach_the_asker_once(host_with_alice):
    h = host_with_alice
    for n in range(ROUNDS):
        qid = h.agent("alice", "ask", question=f"which one, round {n}?")["id"]
        calls = [{"cmd": "answer", "id": qid, "answer": f"answer {i}"} for i in range(RACERS)]
        calls[1] = {"cmd": "cancel_question", "id": qid}
        replies = race(h, calls)
        assert len([r for r in replies if r["ok"]]) == 1, replies
        told = [m for m in h.agent("alice", "recv", max=32)["messages"]
                if m["from"] == "system" and "question_answered" in m["body"]]
        assert len(told) == 1, told
