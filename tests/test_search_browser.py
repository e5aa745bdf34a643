"""The search box and the thread page in a real Chromium: hits swap in as one types, the
words are marked, an agent's markup stays text, a hit leads to its thread; and the
same without JavaScript."""

import shutil

import pytest
from playwright.sync_api import expect

from browser import ARTIFACTS
from hive import HostProcess, free_port
from test_dashboard_browser import page  # noqa: F401  (fixture: a logged-in, live dashboard)


@pytest.fixture(scope="module")
def hive():
    h = HostProcess(dashboard_port=free_port()).start()
    url = f"http://127.0.0.1:{h.dashboard_port}/"
    assert h.admin("spawn", name="alice")["ok"]
    assert h.admin("stop", name="alice")["ok"]
    h.root_id = h.admin("send", to="alice", body="where is the marmalade shipment?")["id"]
    h.reply_id = h.agent("alice", "send", to="operator", in_reply_to=h.root_id,
                         body="the marmalade <img src=x onerror=window.__owned=1> left at 9")["id"]
    h.later_id = h.admin("send", to="alice", body="thanks", in_reply_to=h.reply_id)["id"]
    qid = h.agent("alice", "ask", question="may I open the marmalade?")["id"]
    assert h.admin("answer", id=qid, answer="only one jar")["ok"]
    h.qid = qid
    yield h, url
    h.stop()
    shutil.rmtree(h.root, ignore_errors=True)


def test_hits_swap_in_as_one_types_with_the_words_marked(page, hive):
    h, _ = hive
    page.evaluate("window.__stillHere = 'yes'")
    page.locator("#search input[name=q]").fill("marmalade")
    hits = page.locator("#search-hits .hit")
    # two messages, the question, and the system message that told alice its answer
    expect(hits).to_have_count(4, timeout=5_000)
    expect(hits.first.locator("mark").first).to_have_text("marmalade")
    evil = page.locator(f"#search-hits .hit[data-id='{h.reply_id}'][data-kind=message]")
    expect(evil.locator(".snippet")).to_contain_text("<img src=x onerror=window.__owned=1>")
    assert page.evaluate("window.__owned") is None
    assert page.evaluate("window.__stillHere") == "yes"       # swapped in, not reloaded
    page.locator("#search input[name=q]").fill("marmalade left")
    expect(hits).to_have_count(1, timeout=5_000)
    expect(hits.locator("mark")).to_have_text(["marmalade", "left"])
    page.screenshot(path=str(ARTIFACTS / "dashboard-search.png"), full_page=True)
    hits.locator("a.hit-link").click()
    expect(page).to_have_url(f"{hive[1]}messages/{h.reply_id}")
    expect(page.locator(f"#m-{h.reply_id}.is-current .body")).to_contain_text(
        "<img src=x onerror=window.__owned=1>")
    expect(page.locator(f"#m-{h.root_id}.is-parent")).to_contain_text("shipment")
    expect(page.locator(f"#m-{h.later_id}.is-reply")).to_contain_text("thanks")
    assert page.evaluate("window.__owned") is None
    page.screenshot(path=str(ARTIFACTS / "thread.png"), full_page=True)


def test_a_bad_query_says_why_and_a_question_hit_shows_its_answer(page, hive):
    h, _ = hive
    page.locator("#search input[name=q]").fill('"*:()')
    expect(page.locator("#search-hits .search-error")).to_contain_text("no words", timeout=5_000)
    page.locator("#search input[name=q]").fill("open jar marmalade")
    expect(page.locator("#search-hits .hit")).to_have_count(0, timeout=5_000)
    page.locator("#search input[name=q]").fill("open marmalade")
    hit = page.locator(f"#search-hits .hit[data-kind=question][data-id='{h.qid}']")
    expect(hit).to_be_visible(timeout=5_000)
    hit.locator("a.hit-link").click()
    expect(page.locator(f"#q-{h.qid}")).to_contain_text("may I open the marmalade?")
    expect(page.locator(f"#q-{h.qid}-answer")).to_contain_text("only one jar")


def test_search_works_without_javascript(browser, hive):
    h, url = hive
    context = browser.new_context(java_script_enabled=False)
    try:
        h.login(context)
        page = context.new_page()
        page.goto(url)
        page.locator("#search input[name=q]").fill("shipment")
        page.locator("#search button[type=submit]").click()
        expect(page).to_have_url(f"{url}search?q=shipment&agent=")
        expect(page.locator(".hit")).to_have_count(1)
        expect(page.locator(".hit mark")).to_have_text("shipment")
        page.get_by_role("link", name="best first").click()
        expect(page.locator(".hit")).to_have_count(1)
    finally:
        context.close()


def test_the_hits_follow_new_messages_and_questions_while_the_words_stay(page, hive):
    h, _ = hive
    page.evaluate("window.__stillHere = 'yes'")
    page.locator("#search input[name=q]").fill("quince")
    expect(page.locator("#search-hits")).to_contain_text("no hits", timeout=5_000)
    sent = h.agent("alice", "send", to="operator", body="the quince jelly has set")["id"]
    expect(page.locator(f"#search-hits .hit[data-kind=message][data-id='{sent}']")).to_be_visible(
        timeout=10_000)
    asked = h.agent("alice", "ask", question="more quince for tomorrow?")["id"]
    expect(page.locator(f"#search-hits .hit[data-kind=question][data-id='{asked}']")).to_be_visible(
        timeout=10_000)
    assert page.evaluate("window.__stillHere") == "yes"
