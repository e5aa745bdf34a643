"""A hostile agent against search, on a real host: it never reads another agent's
messages or questions, FTS5 syntax in a query is only words, a huge query is refused
before it reaches sqlite, and markup in a body reaches the operator's pages as text.
Search pages need the operator's session."""

import shutil
import time
import urllib.parse

import pytest

from hive import HostProcess, free_port
from test_dashboard import Dash

SECRET = "bob's vault code is zanzibar"


@pytest.fixture(scope="module")
def hive():
    h = HostProcess(dashboard_port=free_port()).start()
    try:
        for name in ("alice", "bob"):
            assert h.admin("spawn", name=name)["ok"]
            assert h.admin("stop", name=name)["ok"]
        h.secret = h.admin("send", to="bob", body=SECRET)["id"]
        h.agent("bob", "ask", question="should zanzibar rotate?")
        h.evil = h.agent("alice", "send", to="operator",
                         body='zanzibar <script>window.__owned=1</script><b onclick="x">hi</b>')["id"]
        yield h
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


def still_serving(h):
    started = time.monotonic()
    assert h.admin("hello")["ok"]
    assert h.agent("bob", "status", timeout=1)["ok"]
    assert time.monotonic() - started < 1
    assert "Traceback" not in h.log()


def alice_sees(h, query, **fields):
    got = h.agent("alice", "search", query=query, **fields)
    assert got["ok"], got
    return got["results"]


def test_an_agent_cannot_search_another_agents_messages_or_questions(hive):
    hits = alice_sees(hive, "zanzibar")
    assert [h["id"] for h in hits] == [hive.evil]                 # her own message only
    assert all("alice" in (h["from"], h["to"]) for h in hits)
    for agent in ("bob", "manager", "operator", "nobody"):
        got = hive.agent("alice", "search", query="zanzibar", agent=agent)
        assert got["code"] == "bad_args" and "only what you sent" in got["error"]
    # the id and cmd fields of the request cannot stand in for the socket's caller
    got = hive.agent("alice", "search", query="vault", caller="bob", name="bob", **{"from": "bob"})
    assert got["ok"] and got["results"] == []
    still_serving(hive)


@pytest.mark.parametrize("query", [
    "body:zanzibar", "{body}: zanzibar", "NEAR(vault code, 2)", '"vault', 'vault"', "vau*",
    "zanzibar OR vault", "NOT zanzibar", "^vault", "vault + code", "(vault", ")",
    "rowid:1", "- vault", "zanzibar\x00vault", "zanzibar' OR 1=1 --",
])
def test_fts5_syntax_in_a_query_is_only_words(hive, query):
    got = hive.agent("alice", "search", query=query)
    if got["ok"]:
        assert all(h["id"] == hive.evil for h in got["results"]), got
    else:
        assert got["code"] == "bad_args", got
    admin = hive.admin("search", query=query)
    assert admin["ok"] or admin["code"] == "bad_args", admin
    still_serving(hive)


def test_a_huge_query_or_limit_is_refused_before_the_search(hive):
    got = hive.agent("alice", "search", query="zanzibar " * 100)
    assert got["code"] == "bad_args" and "byte limit" in got["error"]
    got = hive.agent("alice", "search", query="a " * 200)
    assert got["code"] == "bad_args" and "at most 16" in got["error"]
    for limit in (0, 101, -1, 1.5, "9"):
        got = hive.agent("alice", "search", query="zanzibar", limit=limit)
        assert got["code"] == "bad_args", (limit, got)
    got = hive.agent("alice", "search", query="zanzibar", order="rowid")
    assert got["code"] == "bad_args"
    still_serving(hive)


def test_the_search_pages_need_the_operators_session(hive):
    anonymous = Dash(hive.dashboard_port)
    for path in ("/search?q=zanzibar", "/search/hits?q=zanzibar", f"/messages/{hive.secret}",
                 "/questions/1"):
        status, _, body = anonymous.get(path, Accept="application/json")
        assert status == 401, (path, status)
        assert "zanzibar" not in body


def test_markup_in_a_body_is_text_in_the_hits_and_the_thread(hive):
    dash = Dash(hive.dashboard_port, hive.cookie)
    q = urllib.parse.quote("zanzibar onclick")
    for path in (f"/search?q={q}", f"/search/hits?q={q}"):
        status, _, body = dash.get(path)
        assert status == 200, body[:300]
        assert "<script>window.__owned" not in body and "<b onclick" not in body
        assert "&lt;script&gt;" in body
        assert "<mark>zanzibar</mark>" in body
    status, _, body = dash.get(f"/messages/{hive.evil}")
    assert status == 200 and "<script>window.__owned" not in body and "&lt;script&gt;" in body
    status, _, body = dash.get("/search/hits?q=" + urllib.parse.quote("x" * 600))
    assert status == 200 and "byte" in body
    assert dash.get("/messages/999999")[0] == 404
    assert dash.get("/messages/abc")[0] == 400


def test_a_stray_hit_mark_in_a_body_only_moves_a_highlight(hive):
    mid = hive.agent("alice", "send", to="operator",
                     body="\x02<i>forged</i>\x03 marks around zanzibar")["id"]
    hit, = [h for h in alice_sees(hive, "forged zanzibar") if h["id"] == mid]
    assert "\x02" not in hit["snippet"] and "\x03" not in hit["snippet"]
    status, _, body = Dash(hive.dashboard_port, hive.cookie).get("/search/hits?q=forged")
    assert status == 200 and "<i>" not in body and "&lt;i&gt;" in body
