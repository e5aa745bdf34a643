"""Pending reminders seen and cancelled: in process on a real sqlite file with a hand-moved
clock (list, cancel, a cancel racing the timer), then against a real host over its
sockets, through `ctl` and through the MCP tools, and as a hostile agent would try."""

import re
import shutil

import gevent
import pytest

from brokers import race, take
from hyperhive import dashview
from hyperhive.dashlive import Live
from hyperhive.errors import BadArgs, NotFound
from hyperhive.mcp_server import build_server
from hyperhive.names import OPERATOR
from test_agent_page import alice, hive, stub  # noqa: F401  (fixtures: a live agent page)
from test_dashboard import Dash, start_host
from test_mcp_server import ok, refused

# In process ###################################################################

def test_an_agent_lists_its_own_pending_reminders_soonest_first(broker):
    later = broker.reminders.remind("alice", "later", delay_seconds=600)["id"]
    sooner = broker.reminders.remind("alice", "sooner", delay_seconds=60,
                                     file_path="/state/notes/r.txt")["id"]
    broker.reminders.remind("bob", "bob's own", delay_seconds=10)
    rows = broker.reminders.pending("alice")["reminders"]
    assert [(r["id"], r["agent"], r["message"]) for r in rows] == \
        [(sooner, "alice", "sooner"), (later, "alice", "later")]
    assert set(rows[0]) == {"id", "agent", "message", "due_at", "created_at", "file_path"}
    assert rows[0]["file_path"] == "/state/notes/r.txt"
    assert rows[0]["due_at"] - rows[0]["created_at"] == 60


def test_the_operator_lists_every_agents_reminders_or_one_agents(broker):
    broker.reminders.remind("alice", "a", delay_seconds=60)
    broker.reminders.remind("bob", "b", delay_seconds=30)
    assert [r["agent"] for r in broker.reminders.pending("operator")["reminders"]] == \
        ["bob", "alice"]
    assert [r["message"] for r in broker.reminders.pending("operator", agent="alice")
            ["reminders"]] == ["a"]


def test_an_agent_may_not_list_another_agents_reminders(broker):
    broker.reminders.remind("bob", "b", delay_seconds=30)
    with pytest.raises(BadArgs, match="only your own"):
        broker.reminders.pending("alice", agent="bob")
    with pytest.raises(BadArgs, match="only your own"):
        broker.reminders.pending("alice", agent="nobody")


def test_a_cancelled_reminder_is_never_delivered(broker, clock):
    rid = broker.reminders.remind("alice", "never", delay_seconds=5)["id"]
    assert broker.reminders.cancel("alice", rid) == {}
    assert broker.messages.status("alice")["pending_reminders"] == 0
    clock.advance(10)
    broker.reminders.run_due()
    assert take(broker, "alice") == []
    with pytest.raises(NotFound):
        broker.reminders.cancel("alice", rid)


def test_a_delivered_reminder_can_no_longer_be_cancelled(broker, clock):
    rid = broker.reminders.remind("alice", "done", delay_seconds=0)["id"]
    broker.reminders.run_due()
    with pytest.raises(NotFound, match=f"no pending reminder #{rid}"):
        broker.reminders.cancel("operator", rid)
    assert [m["body"] for m in take(broker, "alice")] == ["done"]


def test_an_agent_cannot_cancel_another_agents_reminder_nor_learn_it_exists(broker):
    rid = broker.reminders.remind("bob", "bob's", delay_seconds=60)["id"]
    with pytest.raises(NotFound) as theirs:
        broker.reminders.cancel("alice", rid)
    with pytest.raises(NotFound) as unknown:
        broker.reminders.cancel("alice", 999_999)
    assert str(theirs.value).replace(str(rid), "N") == \
        str(unknown.value).replace("999999", "N")
    assert [r["id"] for r in broker.reminders.pending("bob")["reminders"]] == [rid]
    assert broker.reminders.cancel("operator", rid) == {}
    assert broker.reminders.pending("bob")["reminders"] == []


def test_a_cancel_racing_the_timers_delivery_has_exactly_one_winner(broker, clock):
    winners = set()
    for round in range(20):
        rid = broker.reminders.remind("alice", f"r{round}", delay_seconds=1)["id"]
        clock.advance(1)
        late = round % 2 == 0

        def cancel(rid=rid, late=late):
            if late:
                # On PostgreSQL the timer's look at what is due waits on the server, and a
                # cancel that starts with it would always be first to write.
                gevent.sleep(0.02)
            return broker.reminders.cancel("alice", rid)
        # Either one goes first in turn, so both sides get to win.
        calls = [cancel, broker.reminders.run_due, broker.reminders.run_due]
        results = race(calls[::-1] if late else calls)
        cancelled = {} in results
        delivered = [m["body"] for m in take(broker, "alice")]
        assert delivered == ([] if cancelled else [f"r{round}"]), (round, results)
        assert cancelled or any(isinstance(r, NotFound) for r in results)
        assert broker.reminders.pending("alice")["reminders"] == []
        winners.add("cancel" if cancelled else "delivery")
    assert winners == {"cancel", "delivery"}


def test_setting_cancelling_and_delivering_a_reminder_are_events(broker, clock):
    first = broker.reminders.remind("alice", "one", delay_seconds=1)["id"]
    second = broker.reminders.remind("alice", "two", delay_seconds=100)["id"]
    broker.reminders.cancel("alice", second)
    clock.advance(1)
    broker.reminders.run_due()
    kinds = [(e["kind"], e["data"].get("id")) for e in broker.store.events_after(0)]
    assert ("reminder_added", first) in kinds and ("reminder_added", second) in kinds
    assert ("reminder_cancelled", second) in kinds
    assert ("reminder_delivered", first) in kinds
    assert ("reminder_delivered", second) not in kinds


# The dashboard, rendered in process ###########################################

def page_of(broker):
    s = {**dashview.snapshot(broker), "page_host": "127.0.0.1", "now": broker.clock()}
    return dashview.page(s, "all")


def test_the_dashboard_shows_each_agents_pending_reminders_with_a_countdown_and_cancel(broker):
    broker.reminders.remind("bob", "<b>bob's</b>", delay_seconds=30)
    rid = broker.reminders.remind("alice", "check the build", delay_seconds=90)["id"]
    html = page_of(broker)
    section = html[html.index('id="reminders"'):]
    section = section[:section.index("</section>")]
    assert re.search(r'id="reminders-count"[^>]*>2<', section)
    # by agent: alice's row comes before bob's, whatever is due first
    assert section.index(f'id="reminder-{rid}"') < section.index("&lt;b&gt;bob")
    assert f'<span id="reminder-{rid}-due">1m 30s</span>' in section
    assert f'action="/cancel-reminder/{rid}"' in section and 'method="post"' in section
    assert "<b>bob" not in section and "&lt;b&gt;bob" in section


def test_an_open_dashboard_follows_reminders_set_cancelled_and_delivered(broker, clock):
    live = Live(broker, "127.0.0.1", clock=broker.clock)
    hello = dict(live.hello())
    assert "reminder-" not in hello["reminders"]
    seq = broker.last_seq()
    rid = broker.reminders.remind("alice", "soon", delay_seconds=60)["id"]
    other = broker.reminders.remind("alice", "later", delay_seconds=600)["id"]
    frames = [(e["kind"], dict(live.render(e))) for e in broker.events_after(seq)]
    assert [k for k, _ in frames] == ["reminder_added", "reminder_added"]
    added = frames[-1][1]
    assert f'id="reminder-{rid}"' in added["reminders"]
    assert f'id="reminder-{other}"' in added["reminders"]
    assert 'is-new" id="reminder-' in frames[0][1]["reminders"]   # new rows arrive marked
    assert "⏰ 2" in added["agents"]                     # the agent's pending count
    # the countdown ticks on the open page
    clock.advance(30)
    [(_, ticked)] = live.tick()
    assert f'<span id="reminder-{rid}-due" hx-swap-oob="true">30s</span>' in ticked

    seq = broker.last_seq()
    broker.reminders.cancel(OPERATOR, other)
    clock.advance(30)
    broker.reminders.run_due()
    frames = [(e["kind"], dict(live.render(e))) for e in broker.events_after(seq)]
    kinds = [k for k, _ in frames]
    assert kinds[0] == "reminder_cancelled" and "reminder_delivered" in kinds
    assert f'id="reminder-{other}"' not in frames[0][1]["reminders"]
    last = dict(frames[kinds.index("reminder_delivered")][1])
    assert "reminder-" not in last["reminders"]
    assert re.search(r'id="reminders-count"[^>]*>0<', last["reminders"])


# A real host ##################################################################

def test_the_sockets_list_and_cancel_reminders_each_as_its_caller_may(host_with_alice):
    h = host_with_alice
    mine = h.agent("alice", "remind", message="check the build", delay_seconds=3600)["id"]
    theirs = h.agent("manager", "remind", message="manager's own", delay_seconds=60)["id"]
    listed = h.agent("alice", "reminders")
    assert [(r["id"], r["message"]) for r in listed["reminders"]] == [(mine, "check the build")]
    assert [r["id"] for r in h.admin("reminders")["reminders"]] == [theirs, mine]
    assert [r["id"] for r in h.admin("reminders", agent="manager")["reminders"]] == [theirs]

    refusal = h.agent("alice", "cancel_reminder", id=theirs)
    unknown = h.agent("alice", "cancel_reminder", id=987654)
    assert refusal["code"] == unknown["code"] == "not_found"
    assert refusal["error"].replace(str(theirs), "N") == unknown["error"].replace("987654", "N")
    assert h.agent("alice", "reminders", agent="manager")["code"] == "bad_args"
    assert h.agent("alice", "cancel_reminder", id=mine)["ok"]
    assert h.agent("alice", "status")["pending_reminders"] == 0
    assert h.admin("cancel_reminder", id=theirs)["ok"]
    assert h.admin("reminders")["reminders"] == []


def test_ctl_prints_pending_reminders_and_cancels_one(host_with_alice):
    h = host_with_alice
    rid = h.agent("alice", "remind", message="water the plants\nand more", delay_seconds=600)["id"]
    for argv in (("reminders",), ("reminders", "alice")):
        out = h.ctl(*argv)
        assert out.returncode == 0, out.stderr
        assert f"#{rid}" in out.stdout and "alice" in out.stdout
        assert "water the plants" in out.stdout and "and more" not in out.stdout
    assert h.ctl("reminders", "manager").stdout.strip() == "(no pending reminders)"
    assert h.ctl("cancel-reminder", str(rid)).returncode == 0
    again = h.ctl("cancel-reminder", str(rid))
    assert again.returncode == 1 and f"no pending reminder #{rid}" in again.stdout + again.stderr
    assert h.ctl("reminders").stdout.strip() == "(no pending reminders)"


def test_the_mcp_tools_list_and_cancel_the_agents_own_reminders(host_with_alice):
    h = host_with_alice
    alice = build_server(h.agent_sock("alice"))
    assert ok(alice, "reminders") == "(no pending reminders)"
    ok(alice, "remind", message="check the build", delay_seconds=3600)
    [row] = h.agent("alice", "reminders")["reminders"]
    text = ok(alice, "reminders")
    assert text.startswith(f"#{row['id']} due ") and text.endswith(": check the build")
    assert "in 59m" in text or "in 1h" in text or "in 60m" in text
    assert ok(alice, "cancel_reminder", id=row["id"]) == \
        f"reminder #{row['id']} cancelled; it will not be delivered"
    assert "no pending reminder" in refused(alice, "cancel_reminder", id=row["id"])


def test_a_hostile_agent_can_neither_see_nor_cancel_another_agents_reminders(host_with_alice):
    h = host_with_alice
    secret = h.agent("manager", "remind", message="the manager's secret plan",
                     delay_seconds=600)["id"]
    alice = build_server(h.agent_sock("alice"))
    for probe in ({}, {"agent": "manager"}, {"agent": "*"}, {"agent": "operator"}):
        got = h.agent("alice", "reminders", **probe)
        assert "secret" not in str(got), probe
    assert "secret" not in ok(alice, "reminders")
    for bad_id in (secret, -1, 0, 2**62, "1", None, [secret], 1.5):
        got = h.agent("alice", "cancel_reminder", id=bad_id)
        assert not got.get("ok"), bad_id
        assert "manager" not in str(got) and "secret" not in str(got), bad_id
    # The manager's socket is no master key either: its reminders are its own.
    alice_rid = h.agent("alice", "remind", message="alice's", delay_seconds=600)["id"]
    assert h.agent("manager", "cancel_reminder", id=alice_rid)["code"] == "not_found"
    assert [r["id"] for r in h.admin("reminders")["reminders"]] == [secret, alice_rid]


def test_the_dashboards_cancel_form_cancels_a_reminder_and_needs_the_operators_session():
    h, dash = start_host()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        rid = h.agent("alice", "remind", message="<i>tea</i>", delay_seconds=900)["id"]
        _, _, page = dash.get("/")
        assert f'id="reminder-{rid}"' in page and "&lt;i&gt;tea" in page
        stranger = Dash(dash.port)
        status, _, _ = stranger.post(f"/cancel-reminder/{rid}")
        assert status in (401, 403)
        assert [r["id"] for r in h.admin("reminders")["reminders"]] == [rid]
        assert dash.form(f"/cancel-reminder/{rid}") == {"ok": [f"reminder #{rid} cancelled"]}
        assert h.admin("reminders")["reminders"] == []
        status, reply = dash.post(f"/cancel-reminder/{rid}", as_json=True)
        assert status == 404 and reply["code"] == "not_found"
        _, _, page = dash.get("/")
        assert f'id="reminder-{rid}"' not in page
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


# The agent's own page ##########################################################

def test_the_agents_own_page_shows_its_pending_reminders_and_no_one_elses(alice, hive):
    mine = hive.agent("alice", "remind", message="<u>rotate logs</u>", delay_seconds=7200)["id"]
    theirs = hive.agent("manager", "remind", message="the manager's own", delay_seconds=60)["id"]
    try:
        html = alice.html()
        start = html.index('<details class="panel threads" id="reminders" open>')
        panel = html[start:html.index("</details>", start)]
        assert f'#{mine} due in <span id="due-reminder-{mine}">1h 59m</span>' in panel
        assert "&lt;u&gt;rotate logs&lt;/u&gt;" in panel and "<u>" not in panel
        assert "the manager" not in panel and f'data-id="{theirs}"' not in panel
    finally:
        hive.admin("cancel_reminder", id=mine)
        hive.admin("cancel_reminder", id=theirs)
    assert '<details class="panel threads" id="reminders">' in alice.html()
