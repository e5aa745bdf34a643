"""Full-text search on a real sqlite file: the index commits with its row, an older
database is filled once, queries are plain words, and an agent searches only its own."""

import sqlite3

import pytest

from brokers import broker, clock  # noqa: F401  (fixtures)
from hyperhive import searches, searchrows
from hyperhive.errors import BadArgs
from hyperhive.store import Store


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "broker.sqlite")
    yield store
    store.close()


def _ids(store, words, agent=None):
    return [h["id"] for h in store.search_messages(searches.query_words(words), 50, agent)]


def test_a_message_is_found_by_its_words_in_the_transaction_that_wrote_it(store):
    with store.atomic():
        mid = store.add_message("alice", "bob", "the deploy failed on staging", 1.0)
        assert _ids(store, "deploy staging") == [mid]
    assert _ids(store, "STAGING failed") == [mid]
    assert _ids(store, "production") == []


def test_a_rolled_back_write_leaves_no_index_row(store):
    with pytest.raises(RuntimeError):
        with store.atomic():
            store.add_message("alice", "bob", "never committed zebra", 1.0)
            raise RuntimeError("the write fails")
    assert _ids(store, "zebra") == []
    assert store._conn.execute("SELECT COUNT(*) FROM messages_fts_data").fetchone()[0] <= 2
    with store.atomic():
        kept = store.add_message("alice", "bob", "committed zebra", 2.0)
    assert _ids(store, "zebra") == [kept]
    store._conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")


def test_a_deleted_message_leaves_the_index(store):
    with store.atomic():
        mid = store.add_message("operator", "alice", "ephemeral words", 1.0)
        store.add_message("alice", "operator", "other words", 1.0)
    with store.atomic():
        store._conn.execute("DELETE FROM messages WHERE id = ?", (mid,))
    assert _ids(store, "ephemeral") == []
    assert len(_ids(store, "words")) == 1
    store._conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")


def test_a_database_from_before_the_index_is_filled_once_at_open(tmp_path):
    path = tmp_path / "broker.sqlite"
    store = Store(path)
    with store.atomic():
        mid = store.add_message("alice", "bob", "written before the index", 1.0)
        qid = store.add_question("alice", "which colour?", [], False, 1.0)
        store.answer_question(qid, "turquoise", "operator", 2.0)
    store.close()
    raw = sqlite3.connect(path, isolation_level=None)
    searchrows.drop_indexes(raw)
    assert raw.execute("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%fts%'").fetchone() \
        == (0,)
    raw.close()
    store = Store(path)
    try:
        assert _ids(store, "before index") == [mid]
        assert [h["id"] for h in store.search_questions(["turquoise"], 5)] == [qid]
        store.close()
        store = Store(path)                          # opened again: not filled twice
        assert _ids(store, "before index") == [mid]
    finally:
        store.close()


@pytest.mark.parametrize("query, words", [
    ('body:secret', ["body", "secret"]),
    ('NEAR(a b)', ["NEAR", "a", "b"]),
    ('"unbalanced', ["unbalanced"]),
    ('pre*', ["pre"]),
    ('a OR b NOT c', ["a", "OR", "b", "NOT", "c"]),
    ("x_y-z", ["x", "y", "z"]),
    ("Grüße naïve", ["Grüße", "naïve"]),
])
def test_a_query_is_plain_words_whatever_syntax_it_holds(query, words):
    assert searches.query_words(query) == words
    assert searchrows.fts_match(words) == " AND ".join(f'"{w}"' for w in words)


@pytest.mark.parametrize("query", ["", "   ", "***", '"(:)"'])
def test_a_query_without_words_is_refused(query):
    with pytest.raises(BadArgs, match="no words"):
        searches.query_words(query)


def test_a_query_with_too_many_words_is_refused():
    with pytest.raises(BadArgs, match="at most"):
        searches.query_words(" ".join(["w"] * 17))


def test_snippet_marks_become_ranges_and_stray_marks_are_dropped():
    assert searches.unmark("a \x02hit\x03 b") == ("a hit b", [[2, 5]])
    assert searches.unmark("\x03x\x02y") == ("xy", [])
    assert searches.unmark("\x02\x03z") == ("z", [])


def test_an_agent_searches_only_what_it_sent_or_received(broker):
    broker.messages.send("alice", "bob", "pineapple for bob")
    broker.messages.send("operator", "bob", "pineapple from the operator")
    broker.messages.send("bob", "manager", "pineapple to the manager")
    broker.questions.ask("bob", "pineapple or mango?")
    mine = broker.searches.search("alice", "pineapple")["results"]
    assert [(h["kind"], h["from"], h["to"]) for h in mine] == [("message", "alice", "bob")]
    bobs = broker.searches.search("bob", "pineapple")["results"]
    assert len(bobs) == 4 and all("bob" in (h["from"], h["to"]) for h in bobs)
    assert {h["kind"] for h in bobs} == {"message", "question"}
    with pytest.raises(BadArgs, match="only what you sent"):
        broker.searches.search("alice", "pineapple", agent="bob")
    assert len(broker.searches.search("operator", "pineapple")["results"]) == 4
    assert len(broker.searches.search("operator", "pineapple", agent="alice")["results"]) == 1


def test_hits_come_newest_first_with_the_words_marked(broker, clock):
    first = broker.messages.send("alice", "bob", "alpha beta")["id"]
    clock.advance(5)
    second = broker.messages.send("bob", "alice", "beta <b>alpha</b> gamma")["id"]
    hits = broker.searches.search("operator", "alpha", limit=5)["results"]
    assert [h["id"] for h in hits] == [second, first]
    top = hits[0]
    assert top["snippet"] == "beta <b>alpha</b> gamma"
    assert [top["snippet"][s:e] for s, e in top["marks"]] == ["alpha"]
    assert len(broker.searches.search("operator", "alpha", limit=1)["results"]) == 1
    best = broker.searches.search("operator", "alpha", order="best")["results"]
    assert {h["id"] for h in best} == {first, second}


def test_an_answer_is_searchable_once_given(broker):
    qid = broker.questions.ask("alice", "which port?")["id"]
    assert broker.searches.search("operator", "8443")["results"] == []
    broker.questions.answer("operator", qid, "use 8443")
    hits = broker.searches.search("alice", "8443")["results"]
    # the question, and the system message that told alice its answer
    assert {(h["kind"], h["to"]) for h in hits} == {("question", "operator"), ("message", "alice")}
    assert [h["id"] for h in hits if h["kind"] == "question"] == [qid]


def test_a_thread_holds_the_parents_and_the_replies(broker):
    root = broker.messages.send("operator", "alice", "root")["id"]
    child = broker.messages.send("alice", "operator", "child", in_reply_to=root)["id"]
    grandchild = broker.messages.send("operator", "alice", "grand", in_reply_to=child)["id"]
    thread = broker.searches.thread(child)
    assert [m["id"] for m in thread["parents"]] == [root]
    assert thread["message"]["id"] == child
    assert [m["id"] for m in thread["replies"]] == [grandchild]


def test_the_operator_can_scope_a_search_to_what_the_operator_was_asked(broker):
    qid = broker.questions.ask("alice", "approve the quince order?")["id"]
    broker.questions.ask("alice", "quince for bob?", to="bob")
    hits = broker.searches.search("operator", "quince", agent="operator")["results"]
    assert [(h["kind"], h["id"]) for h in hits] == [("question", qid)]
