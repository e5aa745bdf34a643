"""A rate-limited agent rests until the reset claude reported, then takes its message again.

The end-to-end tests run a real host, real harnesses and the real claude CLI on a Claude
login (CLAUDE_CODE_OAUTH_TOKEN) against tests/anthropic_stub.py answering 429 with the
unified rate-limit headers, a reset a few seconds ahead.
"""

import json
import sqlite3
import time
import urllib.request

import pytest

from anthropic_stub import Stub, claude_env, find_claude
from hive import HostProcess, free_port, short_tmpdir, wait_for
from hyperhive import formats
from hyperhive.bounds import MAX_RATE_LIMIT_REST
from hyperhive.naps import RESET_MARGIN, rate_limit_end
from test_agent_page import Page
from test_attacks_web import post_json
from test_e2e import row, spawn

NOW = 1_800_000_000.0


# -- when the rest ends -----------------------------------------------------------------------


def test_the_rest_ends_a_little_after_the_reported_reset():
    assert rate_limit_end(NOW + 600, NOW, 300) == NOW + 600 + RESET_MARGIN


def test_without_a_reset_the_rest_is_the_set_sleep():
    assert rate_limit_end(None, NOW, 300) == NOW + 300


def test_a_reset_already_past_rests_only_the_margin_left():
    assert rate_limit_end(NOW - 2, NOW, 300) == NOW + RESET_MARGIN - 2
    assert rate_limit_end(NOW - 3600, NOW, 300) == NOW


def test_the_rest_is_never_longer_than_a_day():
    assert rate_limit_end(NOW + 30 * 86400, NOW, 300) == NOW + MAX_RATE_LIMIT_REST
    assert rate_limit_end(None, NOW, 10 * 86400) == NOW + MAX_RATE_LIMIT_REST


def test_the_badge_says_until_when_with_the_date_on_another_day():
    at = time.mktime((2026, 12, 6, 20, 16, 5, 0, 0, -1))
    assert formats.rate_limited(at, at - 60)[0] == "⏸ rate limited until 20:16:05"
    assert formats.rate_limited(at, at - 86400)[0] == "⏸ rate limited until 12-06 20:16:05"
    assert formats.rate_limited(None, at)[0] == "⏸ rate limited"


# -- the real claude against a 429 ------------------------------------------------------------


@pytest.fixture
def stub():
    with Stub() as s:
        yield s


def start_host(stub, login, sleep):
    """A host whose agents use an API key or a Claude login token; a rest without a known
    reset lasts `sleep` seconds."""
    root = short_tmpdir()
    env = claude_env(stub, root / "home")
    if login == "subscription":
        env.pop("ANTHROPIC_API_KEY")
        env["CLAUDE_CODE_OAUTH_TOKEN"] = "sk-ant-oat01-test"
    env.update({"HYPERHIVE_LOG": "stderr", "HYPERHIVE_RATE_LIMIT_SLEEP": str(sleep)})
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
        env.pop(key, None)
    return HostProcess(root=root, claude_bin=find_claude(), env=env,
                       dashboard_port=free_port()).start()


@pytest.fixture
def hive(stub):
    """On a Claude login; a rest without a known reset would last ten minutes."""
    h = start_host(stub, "subscription", 600)
    yield h
    h.stop()


@pytest.fixture
def keyed_hive(stub):
    h = start_host(stub, "api", 3)
    yield h
    h.stop()


def refuse_once(stub, words, limit, then_say):
    """alice's first turn on a message holding `words` is refused with a 429 carrying
    `limit`; the next one sends `then_say` to the operator."""
    stub.add_rule(words, agent="alice", times=1, steps=[{"error": 429, "limit": limit}])
    stub.add_rule(words, agent="alice", steps=[
        {"tool": "mcp__hyperhive__send", "input": {"to": "operator", "body": then_say}},
        {"text": "done"}])


def prompts(stub, text):
    return [r for r in stub.main_requests() if text in r["last_user_text"]
            and not r["has_tool_result"]]


def html(h, port, path="/"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Cookie": h.cookie})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read().decode()


def turn_outcomes(h, name):
    path = h.root / "lib" / "agents" / name / "harness" / "hyperhive-turn-stats.sqlite"
    with sqlite3.connect(path) as db:
        return [kind for (kind,) in db.execute("select result_kind from turn_stats order by id")]


def inbox_bodies(h):
    return [m["body"] for m in h.admin("inbox", limit=100)["messages"]]


def test_a_rate_limited_agent_rests_until_the_reset_and_then_finishes_the_turn(hive, stub):
    spawn(hive, "alice")
    reset = int(time.time()) + 8
    refuse_once(stub, "busy hour", {"plan": "subscription", "reset_at": reset},
                then_say="after the reset")
    hive.admin("send", to="alice", body="busy hour")

    until = wait_for(lambda: row(hive, "alice")["rate_limited_until"], timeout=60,
                     what="alice's row to say until when it rests")
    assert until == reset + RESET_MARGIN
    shown = f"rate limited until {formats.moment(until, time.time())}"
    assert shown in html(hive, hive.dashboard_port)
    assert shown in html(hive, row(hive, "alice")["port"])
    assert "rate-limited-until-" in hive.ctl("status").stdout

    wait_for(lambda: "after the reset" in inbox_bodies(hive), timeout=60, what="the retried turn")
    first, retried = prompts(stub, "busy hour")
    assert retried["time"] >= reset + RESET_MARGIN - 0.5, "the message came back before the reset"
    assert retried["time"] - first["time"] < 60, "the rest lasted the fallback sleep"
    wait_for(lambda: row(hive, "alice")["rate_limited_until"] is None, timeout=10,
             what="the badge to go once the agent is back")
    assert "rate limited until" not in html(hive, hive.dashboard_port)
    wait_for(lambda: len(turn_outcomes(hive, "alice")) >= 2, timeout=20, what="both turns")
    assert turn_outcomes(hive, "alice") == ["rate_limited", "ok"]
    # The message was acked by the turn that finished: nothing comes back.
    assert hive.agent("alice", "requeue")["requeued"] == 0


def test_an_api_keys_rate_limit_names_no_reset_so_the_agent_rests_the_set_sleep(keyed_hive, stub):
    hive = keyed_hive
    spawn(hive, "alice")
    # An hour's retry-after: claude does not wait it out itself, and never names the reset.
    refuse_once(stub, "busy minute", {"plan": "api", "reset_in": 3600},
                then_say="after the sleep")
    sent = time.time()
    hive.admin("send", to="alice", body="busy minute")
    until = wait_for(lambda: row(hive, "alice")["rate_limited_until"], timeout=60,
                     what="alice's row to say until when it rests")
    assert sent + 3 <= until <= time.time() + 3
    wait_for(lambda: "after the sleep" in inbox_bodies(hive), timeout=60, what="the retried turn")
    first, retried = prompts(stub, "busy minute")
    assert 3 - 0.5 <= retried["time"] - first["time"] < 30
    wait_for(lambda: len(turn_outcomes(hive, "alice")) >= 2, timeout=20, what="both turns")
    assert turn_outcomes(hive, "alice") == ["rate_limited", "ok"]


def test_a_restart_in_the_middle_of_a_rest_rests_out_the_rest_of_it(hive, stub):
    spawn(hive, "alice")
    reset = int(time.time()) + 12
    refuse_once(stub, "busy day", {"plan": "subscription", "reset_at": reset},
                then_say="after the restart")
    hive.admin("send", to="alice", body="busy day")
    wait_for(lambda: row(hive, "alice")["rate_limited_until"], timeout=60,
             what="alice to rest")
    assert hive.admin("restart", name="alice")["ok"]
    # The new harness says so again, with the same end, before it takes anything.
    wait_for(lambda: row(hive, "alice")["rate_limited_until"] == reset + RESET_MARGIN,
             timeout=30, what="the restarted harness to go on resting")
    wait_for(lambda: "after the restart" in inbox_bodies(hive), timeout=60,
             what="the retried turn")
    # Two requests: the refused one and the retry; the restart asked nothing in between.
    refused, retried = prompts(stub, "busy day")
    assert refused["answer"]["error"] == 429
    assert retried["time"] >= reset + RESET_MARGIN - 0.5, "the restart took the message early"
    wait_for(lambda: row(hive, "alice")["rate_limited_until"] is None, timeout=10,
             what="the rest to end")


def test_the_operators_cancel_ends_a_rest_and_the_message_is_tried_at_once(hive, stub):
    spawn(hive, "alice")
    reset = int(time.time()) + 600
    refuse_once(stub, "long wait", {"plan": "subscription", "reset_at": reset},
                then_say="tried early")
    hive.admin("send", to="alice", body="long wait")
    wait_for(lambda: row(hive, "alice")["rate_limited_until"], timeout=60, what="alice to rest")
    page = html(hive, row(hive, "alice")["port"])
    assert 'class="cancel-form">' in page and "end the rate-limit rest" in page
    status, body = post_json(Page(row(hive, "alice")["port"], hive.cookie), "/api/cancel")
    assert status == 200 and json.loads(body)["cancelled"] == "rest", body[:200]
    wait_for(lambda: "tried early" in inbox_bodies(hive), timeout=60, what="the retried turn")
    assert row(hive, "alice")["rate_limited_until"] is None
    wait_for(lambda: len(turn_outcomes(hive, "alice")) >= 2, timeout=20, what="both turns")
    assert turn_outcomes(hive, "alice") == ["rate_limited", "ok"]
