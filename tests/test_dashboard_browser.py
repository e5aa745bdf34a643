"""The dashboard in a real Chromium: live updates without reloads, forms, and no-JS use."""

import json
import re
import shutil

import pytest
from playwright.sync_api import expect

from browser import ARTIFACTS, live_page
from hive import HostProcess, free_port, wait_for


@pytest.fixture(scope="module")
def hive():
    h = HostProcess(dashboard_port=free_port()).start()
    url = f"http://127.0.0.1:{h.dashboard_port}/"
    assert h.admin("spawn", name="alice")["ok"]
    # alice's process is stopped; the tests speak for her through her socket
    assert h.admin("stop", name="alice")["ok"]
    yield h, url
    h.stop()
    shutil.rmtree(h.root, ignore_errors=True)


@pytest.fixture
def page(context, hive):
    with live_page(context, *hive) as page:
        # survives only as long as the page is never reloaded or navigated
        page.evaluate("window.__stillHere = 'yes'")
        yield page


def still_same_page(page):
    return page.evaluate("window.__stillHere") == "yes"


def state(url, cookie):
    import urllib.request
    request = urllib.request.Request(url + "api/state", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=10) as res:
        return json.load(res)


def test_inbox_row_appears_live(page, hive):
    h, _ = hive
    reply = h.agent("alice", "send", to="operator", body="hello operator, live")
    row = page.locator(f"#inbox-{reply['id']}")
    expect(row).to_contain_text("hello operator, live", timeout=5_000)
    expect(row).to_contain_text("alice")
    expect(page.locator(f"#flow-{reply['id']}")).to_contain_text("operator")
    # an agent's markup arrives as text
    evil = h.agent("alice", "send", to="operator", body="<img src=x onerror=window.__owned=1>")
    expect(page.locator(f"#inbox-{evil['id']} .body")).to_have_text(
        "<img src=x onerror=window.__owned=1>", timeout=5_000)
    assert page.evaluate("window.__owned") is None
    assert still_same_page(page)
    page.screenshot(path=str(ARTIFACTS / "dashboard-inbox.png"), full_page=True)


def test_request_spawn_and_approve_from_the_page(page, hive):
    h, _ = hive
    form = page.locator("form.spawn-form")
    form.locator("input[name=name]").fill("gina")
    form.locator("input[name=description]").fill("checks the docs")
    form.locator("button[type=submit]").click()
    card = page.locator("#approval-list li", has_text="gina")
    expect(card).to_contain_text("checks the docs", timeout=5_000)
    expect(page.locator(".toast").last).to_contain_text("gina")
    card.get_by_role("button", name="◆ APPR0VE").click()
    expect(page.locator("#agent-gina")).to_be_visible(timeout=10_000)
    expect(card).to_have_count(0)
    expect(page.locator("#agent-gina .b-running")).to_be_visible(timeout=10_000)
    assert "gina" in h.admin("list")["agents"]
    assert still_same_page(page)
    page.screenshot(path=str(ARTIFACTS / "dashboard-spawned.png"), full_page=True)


def test_deny_asks_for_a_note(page, hive):
    h, _ = hive
    aid = h.admin("request_spawn", name="hank")["id"]
    card = page.locator(f"#approval-{aid}")
    expect(card).to_be_visible(timeout=5_000)
    page.once("dialog", lambda dialog: dialog.accept("not this week"))
    card.get_by_role("button", name="DENY").click()
    expect(card).to_have_count(0, timeout=5_000)
    assert all(a["id"] != aid for a in h.admin("pending")["approvals"])
    assert still_same_page(page)


def test_answer_a_question_from_the_page(page, hive):
    h, url = hive
    qid = h.agent("alice", "ask", question="left or right?", options=["left", "right"],
                  ttl_seconds=600)["id"]
    card = page.locator(f"#q-{qid}")
    expect(card).to_contain_text("left or right?", timeout=5_000)
    expect(card.locator(".b-ttl")).to_contain_text("⏳")
    card.get_by_label("right").check()
    card.get_by_role("button", name="◆ 4NSW3R").click()
    expect(card).to_have_count(0, timeout=5_000)
    assert all(q["id"] != qid for q in h.admin("questions")["questions"])
    answers = [json.loads(m["body"]) for m in state(url, h.cookie)["flow"]
               if m["from"] == "system" and m["to"] == "alice"]
    assert any(a.get("id") == qid and a.get("answer") == "right" for a in answers)
    assert still_same_page(page)


def test_send_from_the_composer(page, hive):
    h, url = hive
    box = page.locator("#composer textarea[name=body]")
    box.fill("@alice hello from the composer")
    box.press("Enter")
    row = page.locator("#flow-list li", has_text="hello from the composer")
    expect(row).to_be_visible(timeout=5_000)
    expect(row.locator(".to")).to_have_text("alice")
    expect(box).to_have_value("")
    page.locator("#composer-to").select_option("alice")
    box.fill("picked from the list")
    page.locator("#composer button[type=submit]").click()
    expect(page.locator("#flow-list li", has_text="picked from the list")).to_be_visible(
        timeout=5_000)
    flow = state(url, h.cookie)["flow"]
    assert any(m["to"] == "alice" and m["body"] == "picked from the list" for m in flow)
    # delivery and handling show on the row as they happen
    taken = h.agent("alice", "recv", max=32)["messages"]
    picked = next(m["id"] for m in taken if m["body"] == "picked from the list")
    mark = page.locator(f"#flow-{picked} .mark")
    expect(mark).to_have_text("✓", timeout=5_000)
    assert h.agent("alice", "ack", ids=[m["id"] for m in taken])["ok"]
    expect(mark).to_have_text("✓✓", timeout=5_000)
    assert still_same_page(page)
    page.screenshot(path=str(ARTIFACTS / "dashboard-flow.png"), full_page=True)


def test_destroy_confirms_then_moves_to_kept_state(page, hive):
    h, _ = hive
    assert h.admin("spawn", name="ivy")["ok"]
    expect(page.locator("#agent-ivy")).to_be_visible(timeout=10_000)
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept()
    page.once("dialog", answer)
    page.locator("#agent-ivy").get_by_role("button", name="DESTR0Y").click()
    expect(page.locator("#agent-ivy")).to_have_count(0, timeout=10_000)
    expect(page.locator("#kept-ivy")).to_be_visible(timeout=10_000)
    assert len(asked) == 1 and "ivy" in asked[0]
    assert "ivy" not in h.admin("list")["agents"]
    # status text and turn badges update in place
    h.agent("alice", "set_status", text="reading the logs")
    expect(page.locator("#agent-alice .status-text")).to_have_text("reading the logs",
                                                                   timeout=5_000)
    assert still_same_page(page)


def paused(h, name):
    return next(r for r in h.admin("status")["agent_statuses"] if r["name"] == name)["paused"]


def test_pause_and_resume_from_the_row_in_place(page, hive):
    h, _ = hive
    alice = page.locator("#agent-alice")
    alice.get_by_role("button", name="❚❚ P4US3").click()
    expect(alice.locator(".b-paused")).to_have_text("paused", timeout=5_000)
    expect(page.locator(".toast").last).to_contain_text("alice paused")
    assert paused(h, "alice") is True
    alice.get_by_role("button", name="▶ R3SUM3").click()
    expect(alice.locator(".b-paused")).to_have_count(0, timeout=5_000)
    expect(alice.get_by_role("button", name="❚❚ P4US3")).to_be_visible()
    assert paused(h, "alice") is False
    assert still_same_page(page)


def test_the_approval_queue_is_charted_and_follows_the_approvals(page, hive):
    h, _ = hive
    queue = page.locator("#approval-queue")
    expect(queue.locator(".uplot canvas").first).to_be_visible(timeout=5_000)
    waiting = len(h.admin("pending")["approvals"])
    expect(queue.locator("#queue-now")).to_have_text(str(waiting))
    asked = h.admin("request_spawn", name="quinn")["id"]
    expect(queue.locator("#queue-now")).to_have_text(str(waiting + 1), timeout=5_000)
    expect(queue.locator(".uplot canvas").first).to_be_visible()
    queue.screenshot(path=str(ARTIFACTS / "dashboard-approval-queue.png"))
    h.admin("deny", id=asked)
    expect(queue.locator("#queue-now")).to_have_text(str(waiting), timeout=5_000)
    assert still_same_page(page)


def ask(h, question, to=None):
    return h.agent("alice", "ask", question=question, **({"to": to} if to else {}))["id"]


def cancel(h, *ids):
    for qid in ids:
        h.admin("cancel_question", id=qid)


def question_counts(url, cookie):
    qs = state(url, cookie)["questions"]
    peers = sum(1 for q in qs if q["target"] is not None)
    return {"all": len(qs), "operator": len(qs) - peers, "peer": peers}


def expect_counts(page, counts):
    for key, n in counts.items():
        expect(page.locator(f"#questions-count-{key}")).to_have_text(str(n), timeout=5_000)


def test_question_chips_filter_in_place(page, hive):
    h, url = hive
    mine = ask(h, "chips: for you")
    peer = ask(h, "chips: for the manager", to="manager")
    live = None
    try:
        expect(page.locator(f"#q-{peer}")).to_be_visible(timeout=5_000)
        expect(page.locator(f"#q-{mine}")).to_be_visible()
        counts = question_counts(url, h.cookie)
        expect_counts(page, counts)

        page.locator("#question-filter [data-q=peer]").click()
        expect(page.locator(f"#q-{mine}")).to_be_hidden()
        expect(page.locator(f"#q-{peer}")).to_be_visible()
        expect(page.locator("#question-filter [data-q=peer]")).to_have_class(
            re.compile(r"\bis-current\b"))
        assert page.evaluate("location.search") == "?q=peer"

        # a question for the operator arrives while @peer is on: in the list, not shown
        live = ask(h, "chips: arrives live")
        expect(page.locator(f"#q-{live}")).to_be_attached(timeout=5_000)
        expect(page.locator(f"#q-{live}")).to_be_hidden()
        expect_counts(page, {**counts, "all": counts["all"] + 1,
                             "operator": counts["operator"] + 1})
        page.screenshot(path=str(ARTIFACTS / "dashboard-questions-peer.png"), full_page=True)

        page.locator("#question-filter [data-q=operator]").click()
        expect(page.locator(f"#q-{live}")).to_be_visible()
        expect(page.locator(f"#q-{mine}")).to_be_visible()
        expect(page.locator(f"#q-{peer}")).to_be_hidden()
        assert page.evaluate("location.search") == "?q=operator"
        cancel(h, live)
        expect(page.locator(f"#q-{live}")).to_have_count(0, timeout=5_000)
        expect_counts(page, counts)

        page.locator("#question-filter [data-q=all]").click()
        for qid in (mine, peer):
            expect(page.locator(f"#q-{qid}")).to_be_visible()
        assert page.evaluate("location.search") == ""
        assert still_same_page(page)

        # a page opened on a chip keeps it once hive.js has the whole list
        page.goto(url + "?q=peer#questions")
        expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
        expect(page.locator(f"#q-{mine}")).to_be_attached(timeout=5_000)
        expect(page.locator(f"#q-{mine}")).to_be_hidden()
        expect(page.locator(f"#q-{peer}")).to_be_visible()
        expect_counts(page, counts)
    finally:
        cancel(h, mine, peer, *([live] if live else []))    # again is refused, harmlessly


def test_live_updates_keep_what_the_operator_typed_or_opened(page, hive):
    h, _ = hive
    first = ask(h, "keep my half answer?")
    second = None
    try:
        card = page.locator(f"#q-{first}")
        expect(card).to_be_visible(timeout=5_000)
        card.locator("input[name=answer]").fill("half an ans")
        row = page.locator("#agent-alice")
        row.locator("details.journal summary").click()
        row.locator("input[name=purge]").check()
        # both lists are rendered again on the server and swapped in
        second = ask(h, "another one arrives")
        h.agent("alice", "set_status", text="typing is safe")
        expect(page.locator(f"#q-{second}")).to_be_visible(timeout=5_000)
        expect(row.locator(".status-text")).to_have_text("typing is safe", timeout=5_000)
        expect(card.locator("input[name=answer]")).to_have_value("half an ans")
        expect(row.locator("details.journal")).to_have_attribute("open", "")
        expect(row.locator("input[name=purge]")).to_be_checked()
        assert still_same_page(page)
    finally:
        cancel(h, first, *([second] if second else []))
        h.agent("alice", "set_status", text="")


def test_ages_and_countdowns_tick_from_the_server(page, hive):
    h, _ = hive
    qid = h.agent("alice", "ask", question="how long?", ttl_seconds=600)["id"]
    try:
        age = page.locator(f"#q-{qid}-age")
        expect(age).to_have_text(re.compile(r"^\d+s$"), timeout=5_000)
        expect(age).not_to_have_text(age.inner_text(), timeout=5_000)
        left = page.locator(f"#q-{qid}-ttl")
        expect(left).to_have_text(re.compile(r"^9m \d\ds$"))
        expect(left).not_to_have_text(left.inner_text(), timeout=5_000)
        # the page has no formatter of its own: the text is the server's
        assert page.evaluate("typeof window.hive.duration") == "undefined"
    finally:
        cancel(h, qid)


# Keeps the real Notification and notes down every one made; the tab says it is hidden
# until a test sets window.__tabHidden = false.
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  if (!Real) return;
  window.__notes = [];
  window.__noteObjects = [];
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notes.push({ title, tag: options && options.tag, body: options && options.body });
      window.__noteObjects.push(this);
    }
  };
  window.__tabHidden = true;
  Object.defineProperty(document, "hidden", { configurable: true, get: () => window.__tabHidden });
  Object.defineProperty(document, "visibilityState", {
    configurable: true, get: () => (window.__tabHidden ? "hidden" : "visible") });
})();
"""


def open_dashboard(context, url, init_script=RECORD_NOTIFICATIONS):
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.add_init_script(init_script)
    page.goto(url)
    expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
    return page, errors


def notes(page, tag):
    return [n for n in page.evaluate("window.__notes") if n["tag"] == tag]


def wait_note(page, tag):
    page.wait_for_function("tag => window.__notes.some((n) => n.tag === tag)", arg=tag,
                           timeout=5_000)
    return notes(page, tag)


def test_notifications_while_the_tab_is_hidden(browser, hive):
    h, url = hive
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    context.grant_permissions(["notifications"], origin=url.rstrip("/"))
    h.login(context)
    asked = []
    try:
        page, errors = open_dashboard(context, url)
        toggle = page.locator("#notify")
        expect(toggle).to_be_visible()
        expect(toggle).to_have_text("🔔 notify")
        toggle.click()
        expect(toggle).to_have_attribute("aria-pressed", "true")
        assert page.evaluate("localStorage.getItem('hive.notify')") == "on"

        asked.append(ask(h, "are you there?"))
        tag = f"question-{asked[0]}"
        assert wait_note(page, tag) == [{"title": "question from alice", "tag": tag,
                                         "body": "are you there?"}]

        # a peer question does not call the operator; a message and an approval do
        asked.append(ask(h, "peer business", to="manager"))
        msg = h.agent("alice", "send", to="operator", body="ping from alice")["id"]
        aid = h.agent("manager", "request_spawn", name="kim", description="reads the logs")["id"]
        try:
            assert wait_note(page, f"message-{msg}") == [
                {"title": "message from alice", "tag": f"message-{msg}", "body": "ping from alice"}]
            assert wait_note(page, f"approval-{aid}") == [
                {"title": f"approval #{aid}: spawn kim", "tag": f"approval-{aid}",
                 "body": "reads the logs"}]
            # events arrive in order, so the peer question was handled before the message
            assert notes(page, f"question-{asked[1]}") == []
        finally:
            h.admin("deny", id=aid)

        # clicking one brings its row into view, even when a chip hides it
        page.locator("#question-filter [data-q=peer]").click()
        expect(page.locator(f"#q-{asked[0]}")).to_be_hidden()
        page.evaluate(f"window.__noteObjects.find((n) => n.tag === '{tag}').onclick()")
        expect(page.locator(f"#q-{asked[0]}")).to_be_in_viewport()
        page.screenshot(path=str(ARTIFACTS / "dashboard-notify.png"), full_page=False)

        # the operator looking at the tab needs no notification
        page.evaluate("window.__tabHidden = false")
        asked.append(ask(h, "seen already"))
        expect(page.locator(f"#q-{asked[-1]}")).to_be_attached(timeout=5_000)
        assert notes(page, f"question-{asked[-1]}") == []

        # the choice survives a reload; turned off, nothing more shows
        page.reload()
        expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
        expect(toggle).to_have_attribute("aria-pressed", "true")
        toggle.click()
        expect(toggle).to_have_attribute("aria-pressed", "false")
        assert page.evaluate("localStorage.getItem('hive.notify')") == "off"
        asked.append(ask(h, "not with it off"))
        expect(page.locator(f"#q-{asked[-1]}")).to_be_attached(timeout=5_000)
        assert notes(page, f"question-{asked[-1]}") == []
        assert errors == [], errors
    finally:
        cancel(h, *asked)
        context.close()


def test_notifications_denied_or_missing_stay_off(browser, hive):
    h, url = hive
    context = browser.new_context()     # no grant: headless Chromium answers "denied"
    h.login(context)
    try:
        page, errors = open_dashboard(context, url)
        toggle = page.locator("#notify")
        toggle.click()
        expect(toggle).to_have_text(re.compile("blocked"))
        expect(toggle).to_have_attribute("aria-pressed", "false")
        assert page.evaluate("localStorage.getItem('hive.notify')") == "off"

        page, errors_too = open_dashboard(context, url, "delete window.Notification;")
        toggle = page.locator("#notify")
        expect(toggle).to_have_text("🔕 no notifications")
        expect(toggle).to_be_disabled()
        assert errors == [] and errors_too == [], errors + errors_too
    finally:
        context.close()


def test_question_chips_without_javascript(browser, hive):
    h, url = hive
    mine = ask(h, "no-js: for you")
    peer = ask(h, "no-js: for the manager", to="manager")
    context = browser.new_context(java_script_enabled=False)
    h.login(context)
    try:
        page = context.new_page()
        page.goto(url)
        expect(page.locator("#notify")).to_be_hidden()
        with page.expect_navigation():
            page.locator("#question-filter a", has_text="@peer").click()
        assert "q=peer" in page.url
        expect(page.locator(f"#q-{peer}")).to_be_visible()
        expect(page.locator(f"#q-{mine}")).to_have_count(0)
        expect(page.locator("#question-filter .is-current")).to_contain_text("@peer")
        with page.expect_navigation():
            page.locator("#question-filter a", has_text="@operator").click()
        expect(page.locator(f"#q-{mine}")).to_be_visible()
        expect(page.locator(f"#q-{peer}")).to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "dashboard-questions-nojs.png"), full_page=True)
    finally:
        context.close()
        cancel(h, mine, peer)


def test_without_javascript_forms_post_and_redirect(browser, hive):
    h, url = hive
    context = browser.new_context(java_script_enabled=False)
    h.login(context)
    try:
        page = context.new_page()
        page.goto(url)
        assert page.locator("#live").inner_text() == "◌ static page"
        composer = page.locator("#composer")
        composer.locator("select[name=to]").select_option("alice")
        composer.locator("textarea[name=body]").fill("sent with javascript off")
        with page.expect_navigation():
            composer.locator("button[type=submit]").click()
        assert "ok=" in page.url
        expect(page.locator(".flash-ok")).to_contain_text("sent")
        expect(page.locator("#flow-list li", has_text="sent with javascript off")).to_be_visible()
        # a destructive form asks on a page of its own first
        assert h.admin("spawn", name="jay")["ok"]
        page.goto(url)
        with page.expect_navigation():
            page.locator("#agent-jay").get_by_role("button", name="DESTR0Y").click()
        assert "jay" in h.admin("list")["agents"]
        with page.expect_navigation():
            page.get_by_role("button", name="yes, destroy jay").click()
        expect(page.locator(".flash-ok")).to_contain_text("jay destroyed")
        expect(page.locator("#kept-jay")).to_be_visible()
        wait_for(lambda: "jay" not in h.admin("list")["agents"], 5, what="jay destroyed")
        page.screenshot(path=str(ARTIFACTS / "dashboard-nojs.png"), full_page=True)
    finally:
        context.close()
