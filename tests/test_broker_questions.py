"""Questions in process, on a real sqlite file with a hand-moved clock: answers, peers,
cancels, deadlines, and races that only one resolution can win."""

import pytest

from brokers import race, system_events, take
from hyperhive.errors import BadArgs, Conflict, Forbidden, NotFound


def test_a_question_to_the_operator_is_answered_once(broker):
    qid = broker.questions.ask("alice", "deploy now?", options=["yes", "no"])["id"]
    open_qs = broker.questions.open()["questions"]
    assert [(q["id"], q["asker"], q["options"]) for q in open_qs] == [(qid, "alice", ["yes", "no"])]
    assert broker.messages.open_threads("alice")["threads"][0]["id"] == qid
    broker.questions.answer("operator", qid, "yes")
    assert system_events(take(broker, "alice")) == [
        {"event": "question_answered", "id": qid, "question": "deploy now?", "answer": "yes",
         "answerer": "operator"}]
    with pytest.raises(Conflict):
        broker.questions.answer("operator", qid, "no")
    assert broker.questions.open()["questions"] == []


def test_a_peer_question_reaches_its_target_and_only_it_may_answer(broker):
    qid = broker.questions.ask("alice", "which branch?", to="bob", multi=True,
                               options=["main", "dev"])["id"]
    asked = system_events(take(broker, "bob"))
    assert asked[0]["event"] == "question_asked" and asked[0]["asker"] == "alice"
    with pytest.raises(Forbidden):
        broker.questions.answer("alice", qid, "main")
    broker.questions.answer("bob", qid, "main, dev")
    answered = system_events(take(broker, "alice"))
    assert (answered[0]["answer"], answered[0]["answerer"]) == ("main, dev", "bob")
    with pytest.raises(BadArgs):
        broker.questions.ask("alice", "me?", to="alice")


def test_a_question_expires_at_its_deadline_and_a_cancel_closes_another(broker, clock):
    expiring = broker.questions.ask("alice", "quick?", ttl_seconds=60)["id"]
    cancelled = broker.questions.ask("alice", "later?")["id"]
    broker.questions.cancel("operator", cancelled)
    clock.advance(59)
    assert broker.reminders.run_due() == clock.now + 1
    clock.advance(1)
    assert broker.reminders.run_due() is None
    answers = {e["id"]: e["answer"] for e in system_events(take(broker, "alice"))}
    assert answers == {expiring: "[expired]", cancelled: "[cancelled]"}


def test_an_agent_may_keep_only_so_many_questions_open(broker):
    for i in range(20):
        broker.questions.ask("alice", f"q{i}?")
    with pytest.raises(Conflict, match="open questions"):
        broker.questions.ask("alice", "one more?")
    broker.questions.ask("operator", "the operator has no bound?")


def test_racing_answers_and_a_cancel_reach_the_asker_once(broker):
    for n in range(5):
        qid = broker.questions.ask("alice", f"round {n}?")["id"]
        calls = [lambda i=i: broker.questions.answer("operator", qid, f"answer {i}")
                 for i in range(8)]
        calls[1] = lambda: broker.questions.cancel("operator", qid)
        results = race(calls)
        assert len([r for r in results if not isinstance(r, Exception)]) == 1, results
        assert all(isinstance(r, (Conflict, NotFound)) for r in results
                   if isinstance(r, Exception))
        assert len(system_events(take(broker, "alice"))) == 1


def test_an_answer_racing_the_deadline_wins_or_loses_whole(broker, clock):
    qid = broker.questions.ask("alice", "now?", ttl_seconds=10)["id"]
    clock.advance(10)
    race([lambda: broker.reminders.run_due(),
          lambda: broker.questions.answer("operator", qid, "yes")])
    told = system_events(take(broker, "alice"))
    assert len(told) == 1 and told[0]["answer"] in ("yes", "[expired]")
