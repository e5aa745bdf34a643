"""The agent's page in a real Chromium, against a real host, harness and claude CLI.

A message typed into the dashboard's composer becomes a real turn; the agent's page,
opened before, shows it live (thinking, the stream, idle) without reloading. The stats
page draws its charts from the real turns; with JavaScript off the page still works.
"""

import json
import re
import shutil
import urllib.request

import pytest
from playwright.sync_api import expect

from anthropic_stub import Stub, claude_env, find_claude
from browser import ARTIFACTS
from hive import HostProcess, free_port, short_tmpdir, wait_for
from test_e2e import row, spawn


@pytest.fixture(scope="module")
def stub():
    with Stub() as s:
        yield s


@pytest.fixture(scope="module")
def hive(stub):
    root = short_tmpdir()
    env = claude_env(stub, root / "home")
    env["HYPERHIVE_LOG"] = "stderr"
    # The stats test's failed turn counts once: no rest and second attempt after it.
    env["HYPERHIVE_TURN_ATTEMPTS"] = "1"
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
        env.pop(key, None)
    h = HostProcess(root=root, claude_bin=find_claude(), env=env,
                    dashboard_port=free_port()).start()
    try:
        spawn(h, "alice")
        port = row(h, "alice")["port"]
        yield h, f"http://127.0.0.1:{h.dashboard_port}/", f"http://127.0.0.1:{port}/"
    finally:
        h.stop()
        shutil.rmtree(root, ignore_errors=True)


def open_page(context, url):
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
    # survives only as long as the page is never reloaded or navigated
    page.evaluate("window.__stillHere = 'yes'")
    return page, errors


@pytest.fixture
def agent(context, hive):
    hive[0].login(context)
    page, errors = open_page(context, hive[2])
    yield page
    assert errors == [], errors
    page.close()


def still_same_page(page):
    return page.evaluate("window.__stillHere") == "yes"


def api_state(url, cookie):
    request = urllib.request.Request(url + "api/state", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=10) as res:
        return json.load(res)


def test_a_turn_shows_live_from_thinking_to_idle(agent, context, hive, stub):
    h, dash_url, _agent_url = hive
    stub.add_rule(r"hello from the dashboard", agent="alice", steps=[
        {"text": "Let me count first.", "tool": "Bash",
         "input": {"command": "printf 'line %s\\n' $(seq 1 40)", "description": "count"},
         "delay": 2.5},
        {"tool": "mcp__hyperhive__send",
         "input": {"to": "operator", "body": "hello operator, alice here"},
         "usage": {"input_tokens": 2100, "output_tokens": 150, "cache_read_input_tokens": 41000,
                   "cache_creation_input_tokens": 900}},
        {"text": "All done."}])
    # a question alice asked before the turn: the page learns of it when the turn starts
    qid = h.agent("alice", "ask", question="may I count to forty?")["id"]
    dash, dash_errors = open_page(context, dash_url)
    box = dash.locator("#composer textarea[name=body]")
    box.fill("@alice hello from the dashboard, <b>bold</b>?")
    box.press("Enter")
    expect(dash.locator("#flow-list li", has_text="hello from the dashboard")).to_be_visible(
        timeout=5_000)
    assert dash_errors == [], dash_errors
    dash.close()

    state = agent.locator("#state-badge")
    expect(state).to_contain_text("thinking", timeout=15_000)
    expect(state).to_have_class("badge b-turn b-turn-thinking")
    expect(agent.locator("#cancel-form")).to_be_visible()
    head = agent.locator("#term .turn-head").last
    expect(head).to_contain_text("operator: hello from the dashboard, <b>bold</b>?")
    expect(agent.locator("#inbox-list li").first).to_contain_text(
        "hello from the dashboard, <b>bold</b>?")

    sent = agent.locator("#term .row.r-tool", has_text="send → operator: hello operator, alice here")
    expect(sent).to_be_visible(timeout=30_000)
    expect(agent.locator("#term .row.r-tool", has_text="Bash $ printf")).to_be_visible()
    folded = agent.locator("#term .row.r-result details").first
    expect(folded.locator("summary")).to_contain_text("line 1…")
    expect(folded.locator("summary .n")).to_contain_text("chars")
    expect(state).to_contain_text("idle", timeout=30_000)
    expect(agent.locator("#thread-list")).to_contain_text(
        f"question #{qid} from alice to operator: may I count to forty?")
    expect(agent.locator("#threads")).to_have_attribute("open", "")
    # left open: an answer would wake alice for another turn while later tests run
    expect(agent.locator("#cancel-form")).to_be_hidden()
    expect(agent.locator("#term .row.r-end.is-ok").last).to_contain_text("ok")
    expect(agent.locator("#last-badge")).to_contain_text("ok")
    ctx = agent.locator("#ctx-badge")
    expect(ctx).to_have_attribute("title", re.compile(r"input 2,1\d\d · cache read 41,000 · "
                                                      r"cache write 900 · output 1\d\d$"))
    expect(ctx).to_have_text(re.compile(r"ctx · \d"))
    # the stream stays pinned to its bottom as rows arrive
    assert agent.evaluate("(() => { const t = document.getElementById('term');"
                          " return t.scrollHeight - t.scrollTop - t.clientHeight < 48; })()")
    assert agent.evaluate("window.__owned") is None
    assert still_same_page(agent)
    agent.wait_for_timeout(1_300)       # let the arrival highlight fade
    agent.screenshot(path=str(ARTIFACTS / "agent-page.png"), full_page=True)


def test_slash_commands_in_the_composer(agent, hive):
    h, _, agent_url = hive
    box = agent.locator("#composer-body")
    box.fill("/model sonnet")
    box.press("Enter")
    expect(agent.locator("#model-chip")).to_have_text("model · sonnet", timeout=5_000)
    expect(agent.locator("#term .row", has_text="model → sonnet")).to_be_visible()
    expect(box).to_have_value("")
    assert api_state(agent_url, h.cookie)["model"] == "sonnet"
    box.fill("/cancel")
    box.press("Enter")
    expect(agent.locator(".toast.is-error", has_text="no turn or nap")).to_be_visible(
        timeout=5_000)
    box.fill("/help")
    box.press("Enter")
    expect(agent.locator("#term .row.r-help", has_text="/new-session")).to_be_visible()
    # the state's age ticks, from the server, with no formatter in the page
    age = agent.locator("#turn-age")
    before = age.inner_text()
    assert re.fullmatch(r"\d+[smhd]( \d+[smh])?", before), before
    if before.endswith("s"):        # an age in seconds moves every second
        expect(age).not_to_have_text(before, timeout=5_000)
    box.fill("/clear")
    box.press("Enter")
    expect(agent.locator("#term .row")).to_have_count(0)
    box.fill("/mo")
    box.press("Tab")
    expect(box).to_have_value("/model ")
    box.press_sequentially("haiku")
    box.press("Enter")
    expect(agent.locator("#model-chip")).to_have_text("model · haiku", timeout=5_000)
    # Shift+Enter adds a line instead of sending
    box.fill("first line")
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    expect(box).to_have_value("first line\nsecond line")
    box.fill("")
    assert still_same_page(agent)


def test_stats_page_draws_charts_from_real_turns(context, hive, stub):
    h, _, agent_url = hive
    h.login(context)
    page, errors = open_page(context, agent_url + "stats?window=1h")
    canvases = page.locator(".stats-page .uplot canvas")
    expect(page.locator("#charts-note")).to_be_hidden()
    expect(canvases.first).to_be_visible(timeout=10_000)
    turns = int(page.locator("#n-turns").inner_text())
    # two more turns, one with tool calls and one failing: the page follows them live
    notes_md = h.root / "lib" / "agents" / "alice" / "state" / "notes.md"
    notes_md.unlink(missing_ok=True)
    stub.add_rule(r"stats: read a file", agent="alice", steps=[
        {"tool": "Read", "input": {"file_path": "/etc/hostname"}},
        {"tool": "mcp__hyperhive__send", "input": {"to": "operator", "body": "read it"}},
        {"tool": "Write", "input": {"file_path": str(notes_md), "content": "n" * 2048}},
        {"text": "read it"}])
    stub.add_rule(r"stats: break", agent="alice", times=1, steps=[{"error": 500}])
    h.admin("send", to="alice", body="stats: read a file")
    expect(page.locator("#n-turns")).to_have_text(str(turns + 1), timeout=30_000)
    h.admin("send", to="alice", body="stats: break")
    expect(page.locator("#n-turns")).to_have_text(str(turns + 2), timeout=30_000)
    expect(page.locator("#outcomes table.tally tr", has_text=re.compile("^failed"))).to_have_text(
        re.compile(r"failed\s*1"))
    expect(page.locator("#tools table.tally")).to_contain_text("Read")
    expect(page.locator("#since-last-value")).to_have_text(re.compile(r"^\d+[smhd]"))
    expect(page.locator("#sends table.tally tr", has_text="operator")).not_to_have_text(
        re.compile(r"operator\s*0$"))
    expect(page.locator("#n-notes")).to_have_text("2.0 KB")
    expect(page.locator("#n-inbox")).to_have_text("0")
    expect(page.locator("#buckets-body tr").first).to_contain_text("2.0 KB")
    # ten charts: turns, durations, tokens, tools per turn, per-tool counts, outcomes,
    # inbox depth, messages per turn, sends by recipient, notes size
    expect(canvases).to_have_count(10, timeout=5_000)
    for i in range(10):
        box = canvases.nth(i).bounding_box()
        assert box and box["width"] > 150 and box["height"] > 100, box
    for panel in ("#inbox-depth", "#messages-taken", "#sends", "#notes"):
        expect(page.locator(f"{panel} .uplot canvas")).to_have_count(1)
    legend = page.locator("#sends .u-legend")
    for label in ("→ operator", "→ peer", "→ manager", "→ broadcast (*)"):
        expect(legend).to_contain_text(label)
    expect(page.locator("#notes .u-legend")).to_contain_text("compacted past")
    assert still_same_page(page)
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "agent-stats.png"), full_page=True)
    assert errors == [], errors
    page.close()

    # without the chart library the numbers and tables are still there
    bare = context.new_page()
    bare.route("**/static/vendor/uPlot*", lambda route: route.abort())
    bare.goto(agent_url + "stats?window=1h")
    expect(bare.locator("#live")).to_have_class("live is-live", timeout=10_000)
    expect(bare.locator("#charts-note")).to_be_visible()
    expect(bare.locator("#outcomes table.tally")).to_contain_text("ok")
    expect(bare.locator("#sends table.tally")).to_contain_text("operator")
    expect(bare.locator("#n-notes")).to_have_text("2.0 KB")
    assert bare.locator(".uplot").count() == 0
    bare.close()


def test_without_javascript_the_send_form_posts_and_redirects(browser, hive):
    h, _, agent_url = hive
    context = browser.new_context(java_script_enabled=False)
    h.login(context)
    try:
        page = context.new_page()
        page.goto(agent_url)
        assert page.locator("#live").inner_text() == "◌ static page"
        page.locator("#composer-body").fill("sent to alice with javascript off")
        with page.expect_navigation():
            page.locator("#composer button[type=submit]").click()
        assert "ok=" in page.url
        expect(page.locator(".flash-ok")).to_contain_text("sent #")
        wait_for(lambda: any(m["body"] == "sent to alice with javascript off"
                             for m in h.agent("alice", "recent")["messages"]), 5,
                 what="the message in alice's inbox")
        expect(page.locator("#inbox-list li", has_text="with javascript off")).to_be_visible()
        # a control without JavaScript: the model form posts and comes back with a flash
        page.locator("#model-input").fill("haiku")
        with page.expect_navigation():
            page.locator(".model-form button[type=submit]").click()
        expect(page.locator(".flash-ok")).to_contain_text("model set to haiku")
    finally:
        context.close()
