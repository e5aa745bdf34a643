"""The agent page's view and fragments in-process: events in, rows and html out.

These are the rules a row, a badge or a tick follows on the first render and on
every live update alike; the browser tests only check that the page swaps them in.
"""

import json
import re
import time

from hyperhive import sse
from hyperhive.agentfeed import LAST_GROUP, TermRows, Ticker, chart_data
from hyperhive.agentview import View, end_row, stream_rows, takes_rows, tool_line, turn_groups
from hyperhive.charts import charts
from hyperhive.turnstats import TurnStats
from hyperhive.web import render

NOW = 1_800_000_000.0


def event(seq, kind, **data):
    return {"seq": seq, "kind": kind, "at": NOW - 60 + seq, "data": data}


START = event(1, "turn_start", id=7, **{"from": "operator"}, body="please <b>look</b>")
TOOL = event(2, "stream", t="tool_use", name="Bash", input={"command": "ls -la"})
END = event(3, "turn_end", outcome="ok", duration_ms=2300)
MODEL = event(4, "model_changed", model="sonnet")


def test_tool_calls_read_as_sentences():
    assert tool_line("Read", {"file_path": "/etc/hostname"}) == "Read /etc/hostname"
    assert tool_line("Bash", {"command": "ls"}) == "Bash $ ls"
    assert tool_line("Write", {"file_path": "/a", "content": "x\ny"}) == "Write /a (2 lines)"
    assert (tool_line("mcp__hyperhive__send", {"to": "bob", "body": "hi", "in_reply_to": 3})
            == "send → bob (↳ #3): hi")
    assert tool_line("mcp__hyperhive__recv", {"wait_seconds": 30.0}) == "recv (wait 30s)"
    assert (tool_line("mcp__hyperhive__ask", {"question": "ok?", "options": ["y", "n"]})
            == "ask → operator: ok? [y / n]")
    assert tool_line("Mystery", {"a": 1}) == 'tool Mystery {"a":1}'


def test_a_long_tool_result_is_folded_to_its_first_line():
    [r] = stream_rows({"t": "tool_result", "text": "line 1\n" + "x" * 300})
    assert r["text"] == "line 1…" and r["fold"].startswith("line 1\nxxx")
    html = render("agent_row", r=r)
    assert '<summary><span class="g">←</span> <span class="t">line 1…</span>' in html
    assert f'<span class="n">{len(r["fold"])} chars</span>' in html


def test_events_group_by_turn_and_rows_outside_a_turn_gather_on_their_own():
    groups = turn_groups([START, TOOL, END, MODEL])
    assert [g["start"] and g["start"]["id"] for g in groups] == [7, None]
    assert [r["text"] for r in groups[0]["rows"]] == ["Bash $ ls -la"]
    assert groups[0]["end"]["cls"] == "r-end is-ok" and groups[1]["end"] is None
    assert [r["text"] for r in groups[1]["rows"]] == ["model → sonnet"]
    assert takes_rows([START, TOOL]) and not takes_rows([START, TOOL, END])
    assert takes_rows([START, TOOL, END, MODEL]) and not takes_rows([])


def test_live_rows_go_into_the_last_group_while_it_is_open():
    term = TermRows()
    view = View(NOW)
    [(target, html)] = term.render(START, view)
    assert target == "term" and html.strip().startswith('<section class="turn is-new">')
    assert "please &lt;b&gt;look&lt;/b&gt;" in html and "<b>look" not in html
    [(target, html)] = term.render(TOOL, view)
    into = LAST_GROUP.replace(">", "&gt;")
    assert target == "term" and html.startswith(f'<div hx-swap-oob="beforeend:{into}">')
    assert '<span class="t">Bash $ ls -la</span>' in html and "<section" not in html
    [(_, html)] = term.render(END, view)
    assert 'class="row r-end is-ok is-new"' in html and "hx-swap-oob" in html
    # after the end, the next row opens a group of its own
    [(_, html)] = term.render(MODEL, view)
    assert html.strip().startswith("<section") and "model → sonnet" in html
    assert term.render(event(5, "token_usage_changed", ctx=10), view) == []


def test_a_turn_end_with_no_open_group_gets_one():
    [(_, html)] = TermRows(open_group=False).render(END, View(NOW))
    assert html.strip().startswith("<section") and "r-end is-ok" in html


def test_the_page_and_the_feed_render_a_turn_alike():
    page = render("agent_turn", g=turn_groups([START, TOOL, END])[0], v=View(NOW))
    term = TermRows()
    live = "".join(html for e in (START, TOOL, END) for _, html in term.render(e, View(NOW)))
    strip = re.compile(r' is-new|<div hx-swap-oob="[^"]*">|</div>\s*</div>|\s+')
    for needle in ("please &lt;b&gt;look&lt;/b&gt;", "Bash $ ls -la", "ok 2.3s"):
        assert needle in page and needle in live
    assert strip.sub("", page).count('class="row') == strip.sub("", live).count('class="row')


def test_badges_say_the_state_and_tick_its_age():
    s = {"name": "alice", "status": "online", "turn_state": "napping", "turn_state_since": NOW - 5,
         "nap_until": NOW + 299.5, "model": "haiku", "usage": {}, "last_turn": None}
    html = render("agent_badges", s=s, v=View(NOW))
    assert '<span id="turn-age">04:59 left</span>' in html
    assert 'id="cancel-form" class="cancel-form">' in html and "■ end nap" in html
    assert View(NOW + 400).turn_age(s) == "any moment now"
    s.update(turn_state="idle", nap_until=None)
    assert View(NOW).turn_age(s) == "5s"


def test_a_ticker_sends_only_what_changed():
    ticker = Ticker()
    [(target, html)] = ticker.fragments({"turn-age": "3s", "age-inbox-4": "1m"})
    assert target == "tick"
    assert '<span id="turn-age" hx-swap-oob="innerHTML">3s</span>' in html
    [(_, html)] = ticker.fragments({"turn-age": "4s", "age-inbox-4": "1m"})
    assert "turn-age" in html and "age-inbox-4" not in html
    assert ticker.fragments({"turn-age": "4s"}) == []


def test_fragments_become_frames_named_by_target_with_the_id_on_the_last():
    frames = sse.fragment_frames(9, [("term", "<p>a</p>\n<p>b</p>"), ("badges", "<i>x</i>")])
    assert frames.decode() == ("event: term\ndata: <p>a</p>\ndata: <p>b</p>\n\n"
                               "id: 9\nevent: badges\ndata: <i>x</i>\n\n")


def test_charts_from_a_real_summary_and_their_json_cannot_end_its_script(tmp_path):
    stats = TurnStats(tmp_path / "stats.sqlite")
    at = NOW - 600
    stats.record(started_at=at, ended_at=at + 2, duration_ms=2000, result_kind="ok",
                 tool_calls={"</script><b>": 2, "mcp__hyperhive__send": 1}, tool_call_count=3,
                 sends={"peer": 2, "operator": 1}, notes_bytes=900)
    sm = stats.summary("1h", now=NOW)
    sm["notes_limit"] = 2048
    stats.db.close()
    data = charts(sm)
    by_name = {c["name"]: c for c in data["charts"]}
    assert set(by_name) == {"turns", "durations", "tokens", "tools_per_turn", "inbox", "messages",
                            "sends", "notes", "outcomes", "tools"}
    assert by_name["tools"]["labels"] == ["</script><b>", "send"]
    # the sends stack: the top layer reaches the total, each legend shows its own count
    top, *_, bottom = by_name["sends"]["series"]
    assert top["label"] == "→ broadcast (*)" and max(top["data"]) == 3 and max(top["shown"]) == 0
    assert bottom["label"] == "→ operator" and max(bottom["data"]) == 1
    assert [s["label"] for s in by_name["notes"]["series"]] == ["notes.md", "compacted past"]
    text = chart_data(sm)
    assert "</" not in text and json.loads(text) == data


def test_an_end_row_colours_the_outcome():
    assert end_row({"outcome": "cancelled", "duration_ms": 10})["cls"] == "r-end is-warn"
    assert end_row({"outcome": "failed", "duration_ms": 10, "note": "x"})["text"] == "failed 10ms: x"


def test_claudes_rate_limit_event_reads_as_its_window_and_reset():
    reset = time.mktime((2026, 12, 6, 20, 16, 5, 0, 0, -1))
    [r] = stream_rows({"t": "system", "subtype": "rate_limit", "status": "rejected",
                       "resets_at": reset, "window": "five_hour"})
    assert (r["cls"], r["text"]) == ("r-warn", "rate limit five_hour: rejected, resets 20:16:05")
    [r] = stream_rows({"t": "system", "subtype": "rate_limit", "status": "allowed_warning",
                       "resets_at": None, "window": None})
    assert r["cls"] == "r-system" and r["text"].endswith("allowed_warning, resets ?")


def test_the_alive_badge_says_until_when_a_rate_limited_agent_rests():
    until = time.mktime((2026, 12, 6, 20, 16, 5, 0, 0, -1))
    s = {"name": "alice", "status": "rate_limited", "rate_limited_until": until,
         "turn_state": "idle", "turn_state_since": until - 60, "model": "haiku", "usage": {},
         "last_turn": None}
    html = render("agent_badges", s=s, v=View(until - 30))
    assert "⏸ rate limited until 20:16:05</span>" in html
    s["status"] = "online"
    assert "rate limited" not in render("agent_badges", s=s, v=View(until - 30))
