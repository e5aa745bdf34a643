"""The store on a real sqlite file: each move out of an open state is one conditional
write that answers the winner alone."""

import pytest

from hyperhive.store import Store


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "broker.sqlite")
    yield store
    store.close()


def test_a_question_is_answered_by_the_first_answer_only(store):
    qid = store.add_question("alice", "now?", [], False, 1.0)
    assert store.answer_question(qid, "yes", "operator", 2.0) == 1
    assert store.answer_question(qid, "no", "operator", 3.0) == 0
    assert store.question(qid)["answer"] == "yes"


def test_a_reminder_is_marked_delivered_once(store):
    rid = store.add_reminder("alice", "hi", 5.0, 1.0)
    assert store.mark_reminder(rid, 1, 6.0) == 1
    assert store.mark_reminder(rid, 2, 7.0) == 0
    assert store.due_reminders(10.0) == []


def test_an_approval_is_resolved_once(store):
    aid = store.add_approval("alice", "apply_commit", 1.0)
    assert store.resolve_approval(aid, 2.0, "approved", None) == 1
    assert store.resolve_approval(aid, 3.0, "denied", "no") == 0
    assert store.approval(aid)["status"] == "approved"


def test_a_second_spawn_of_one_name_is_not_queued_while_one_waits(store):
    assert store.add_spawn_approval("carol", 1.0) is not None
    assert store.add_spawn_approval("carol", 2.0) is None
    assert store.spawn_waiting("carol")


def test_a_drafts_commit_is_queued_only_while_the_draft_is_there(store):
    assert store.add_spawn_approval("dora", 1.0, fetched_sha="a" * 40) is None
    store.add_agent_dir("dora", 8100, 1.0, draft=True)
    assert store.add_spawn_approval("dora", 1.0, fetched_sha="a" * 40) is not None


def test_a_draft_is_discarded_once_and_never_while_its_spawn_waits(store):
    store.add_agent_dir("dora", 8100, 1.0, draft=True)
    aid = store.add_spawn_approval("dora", 1.0, fetched_sha="a" * 40)
    assert store.remove_draft("dora") == 0
    store.resolve_approval(aid, 2.0, "denied", None)
    assert store.remove_draft("dora") == 1
    assert store.remove_draft("dora") == 0
    assert store.agent_dir("dora") is None


def test_kept_state_is_not_a_draft_to_discard(store):
    store.add_agent_dir("eve", 8101, 1.0, draft=False)
    assert store.remove_draft("eve") == 0
    assert store.agent_dir("eve") is not None
