"""Pausing an agent from the dashboard; the charts of messages per turn and of the approval queue."""

import json
import re

from hive import wait_for
from hyperhive import dashview
from hyperhive.charts import approval_queue, charts
from hyperhive.names import OPERATOR
from hyperhive.turnstats import TurnStats
from test_dashboard import (  # noqa: F401  (fixtures, shared)
    SSE,
    Dash,
    broker,
    hive,
    live_page,
    rendered,
    row,
    start_host,
)


def agent_row_html(page, name):
    start = page.index(f'id="agent-{name}"')
    return page[start:page.index("</li>", start)]


# -- pause and resume from the dashboard ---------------------------------------------------

def test_a_form_pauses_and_resumes_an_agent_and_its_row_says_so(hive):
    h, dash = hive
    flash = dash.form("/pause/alice")
    assert "alice paused" in flash["ok"][0]
    assert row(h, "alice")["paused"] is True
    _, _, page = dash.get("/")
    mine = agent_row_html(page, "alice")
    assert '<span class="badge b-paused">paused</span>' in mine
    assert 'action="/resume/alice"' in mine and 'action="/pause/alice"' not in mine

    flash = dash.form("/resume/alice")
    assert flash["ok"] == ["alice resumed"]
    assert row(h, "alice")["paused"] is False
    _, _, page = dash.get("/")
    mine = agent_row_html(page, "alice")
    assert "b-paused" not in mine and 'action="/pause/alice"' in mine


def test_pause_and_resume_answer_json_when_asked(hive):
    _, dash = hive
    reply = dash.act("/pause/alice")
    assert reply["name"] == "alice" and reply["paused"] is True and "paused" in reply["message"]
    assert dash.act("/pause/alice")["paused"] is True       # pausing twice is no error
    assert dash.act("/resume/alice")["paused"] is False
    status, reply = dash.post("/pause/ghost", as_json=True)
    assert status == 404 and reply["code"] == "not_found"
    status, reply = dash.post("/pause/Not%20A%20Name", as_json=True)
    assert status in (400, 404) and reply["ok"] is False


def test_an_open_page_hears_the_pause_at_once(hive):
    _, dash = hive
    page = SSE(dash, path="/events/page")
    try:
        page.wait(lambda s: any(e["event"] == "agents" for e in s.events), what="the hello")
        seen = len(page.events)
        dash.act("/pause/alice")
        page.wait(lambda s: any(e["event"] == "agents" and "b-paused" in e["data"]
                                for e in s.events[seen:]), what="the paused row")
        seen = len(page.events)
        dash.act("/resume/alice")
        page.wait(lambda s: any(e["event"] == "agents" and 'action="/pause/alice"' in e["data"]
                                for e in s.events[seen:]), what="the resumed row")
    finally:
        page.close()
        dash.act("/resume/alice")


def test_pause_is_refused_cross_site_and_without_the_session(hive):
    h, dash = hive
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        status, _, body = dash.post("/pause/alice", headers=headers)
        assert status == 403 and json.loads(body)["code"] == "forbidden"
    stranger = Dash(dash.port)
    status, reply = stranger.post("/pause/alice", as_json=True)
    assert status == 401 and reply["code"] == "unauthorized"
    status, _, _ = stranger.request("GET", "/pause/alice")
    assert status == 401
    assert row(h, "alice")["paused"] is False


def test_an_agents_own_page_cannot_pause_it_or_another(hive):
    h, dash = hive
    page = Dash(row(h, "alice")["port"], dash.cookie)
    wait_for(lambda: page.get("/api/state")[0] == 200, 30, what="alice's page")
    for name in ("alice", "manager"):
        status, _, _ = page.post(f"/pause/{name}", headers={"Accept": "application/json"})
        assert status in (404, 405), status
        assert row(h, name)["paused"] is False


def test_the_live_row_follows_the_paused_flag(broker):
    live, hello, seq = live_page(broker)
    assert 'action="/pause/alice"' in hello["agents"]
    broker.agents.set_paused("alice", True)
    [(kind, frags)] = rendered(broker, live, seq)
    assert kind == "agent_changed"
    assert '<span class="badge b-paused">paused</span>' in frags["agents"]
    assert 'action="/resume/alice"' in frags["agents"]


# -- messages taken per turn ---------------------------------------------------------------

NOW = 1_800_000_000.0


def test_messages_per_turn_are_averaged_and_topped_per_bucket(tmp_path):
    stats = TurnStats(tmp_path / "stats.sqlite")
    start = (NOW - 3600) // 300 * 300
    # bucket, seconds into it, messages the turn took (None: an older harness's row)
    for bucket, offset, taken in ((1, 0, 1), (1, 30, 4), (1, 60, 1), (4, 0, None), (6, 5, 2)):
        at = start + bucket * 300 + offset
        stats.record(started_at=at, ended_at=at + 1, duration_ms=1000, result_kind="ok",
                     messages_taken=taken)
    series = stats.summary("1h", now=NOW)["series"]
    stats.db.close()
    assert series["messages_per_turn"][1] == 2 and series["messages_max"][1] == 4
    assert series["messages_per_turn"][6] == 2 and series["messages_max"][6] == 2
    assert series["messages_per_turn"][4] is None and series["messages_max"][4] is None
    assert series["messages_max"][0] is None and series["turns"][4] == 1


def test_the_messages_chart_draws_both_series(tmp_path):
    stats = TurnStats(tmp_path / "stats.sqlite")
    at = NOW - 600
    for taken in (3, 1):
        stats.record(started_at=at, ended_at=at + 1, duration_ms=1000, result_kind="ok",
                     messages_taken=taken)
    data = charts(stats.summary("1h", now=NOW))
    stats.db.close()
    chart = next(c for c in data["charts"] if c["name"] == "messages")
    most, per_turn = chart["series"]
    assert chart["kind"] == "time" and len(most["data"]) == len(data["t"])
    assert most["bars"] and max(x for x in most["data"] if x is not None) == 3
    assert max(x for x in per_turn["data"] if x is not None) == 2


def test_an_old_file_gains_the_messages_column(tmp_path):
    path = tmp_path / "stats.sqlite"
    first = TurnStats(path)
    first.db.execute_sql("ALTER TABLE turn_stats DROP COLUMN messages_taken")
    first.db.close()
    again = TurnStats(path)
    assert again.record(started_at=NOW, ended_at=NOW + 1, duration_ms=1000, result_kind="ok",
                        messages_taken=2)
    assert again.last_turn()["messages_taken"] == 2
    again.db.close()


# -- the approval queue on the dashboard -----------------------------------------------------

def test_the_queue_counts_the_most_waiting_and_those_left_per_hour():
    now = NOW
    hour = 3600
    start = (now - 86400) // hour * hour
    spans = [(start + 2 * hour + 10, start + 2 * hour + 20),     # came and went within hour 2
             (start + 2 * hour + 15, start + 4 * hour),          # waited into hour 4
             (start - 5 * hour, start + hour + 1),                # waiting as the day began
             (now - 30, None)]                                    # still waiting
    q = approval_queue(spans, now)
    [chart] = q["charts"]
    most, at_end = (s["data"] for s in chart["series"])
    assert q["t"][0] == start and q["step"] == hour and len(most) == len(q["t"])
    assert most[:5] == [1, 1, 2, 1, 1] and at_end[:5] == [1, 0, 1, 1, 0]
    assert most[-1] == 1 and at_end[-1] == 1 and q["now"] == 1 and q["most"] == 2


def test_the_dashboard_charts_the_queue_and_its_stream_keeps_it_current(broker):
    first = broker.approvals.request_spawn(OPERATOR, "bob")["id"]
    broker.clock.now += 0.01
    broker.approvals.request_spawn(OPERATOR, "carl")
    broker.clock.now += 0.01
    broker.approvals.decide(broker.approvals.waiting(first), "denied")
    s = dashview.snapshot(broker)
    s["page_host"] = "127.0.0.1"
    assert s["approval_queue"]["now"] == 1 and s["approval_queue"]["most"] == 2
    page = dashview.page(s, "all")
    assert 'data-charts="queue-data"' in page and 'data-chart="approval_queue"' in page
    data = json.loads(re.search(r'<script type="application/json" id="queue-data">(.*?)</script>',
                                page).group(1))
    [chart] = data["charts"]
    assert chart["name"] == "approval_queue" and max(chart["series"][0]["data"]) == 2
    assert '<b id="queue-now">1</b>' in page

    live, hello, seq = live_page(broker)
    assert 'id="queue-body" hx-swap-oob="true"' in hello["oob"]
    broker.approvals.request_spawn(OPERATOR, "dora")
    [(kind, frags)] = rendered(broker, live, seq)
    assert kind == "approval_added"
    assert 'id="queue-body" hx-swap-oob="true"' in frags["approvals"]
    assert '<b id="queue-now">2</b>' in frags["approvals"]
