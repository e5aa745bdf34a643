"""Logging in, out, and reaching an agent's page through the host, in a real Chromium.

A real host (process backend; no claude turn runs, so claude is /bin/false) with its
dashboard and the manager's page, each context a fresh browser profile.
"""

import re
import shutil

import pytest
from playwright.sync_api import expect

from browser import ARTIFACTS
from hive import COOKIE, HostProcess, free_port, wait_for
from test_e2e import row
from test_terminal_browser import screen

HOWTO = "hyperhive ctl login-url"


@pytest.fixture(scope="module")
def hive():
    h = HostProcess(dashboard_port=free_port()).start()
    try:
        yield h, f"http://127.0.0.1:{h.dashboard_port}/"
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


@pytest.fixture
def fresh(browser):
    """A browser profile that has never logged in."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context
    context.close()


def test_a_page_without_the_session_says_how_to_log_in(fresh, hive):
    _, url = hive
    page = fresh.new_page()
    response = page.goto(url)
    assert response.status == 401
    expect(page.locator("#login-needed")).to_contain_text(HOWTO)
    assert page.locator("#agent-list").count() == 0
    page.screenshot(path=str(ARTIFACTS / "login-needed.png"))


def test_the_login_link_sets_the_cookie_and_lands_on_the_dashboard(fresh, hive):
    h, url = hive
    link = h.admin("login_url")["url"]
    page = fresh.new_page()
    page.goto(link)
    assert page.url == url
    expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
    expect(page.locator("#agent-manager")).to_be_visible()
    cookie = next(c for c in fresh.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert COOKIE not in page.evaluate("document.cookie")      # no script can read it
    # the same link a second time logs nobody in
    other = fresh.browser.new_context()
    try:
        again = other.new_page()
        assert again.goto(link).status == 401
        expect(again.locator("#login-needed")).to_contain_text("used, expired or unknown")
        assert not other.cookies()
    finally:
        other.close()


def test_logout_ends_the_session(fresh, hive):
    h, url = hive
    page = fresh.new_page()
    page.goto(h.admin("login_url")["url"])
    expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
    with page.expect_navigation():
        page.get_by_role("button", name="log out").click()
    expect(page.locator(".flash-ok")).to_contain_text("logged out")
    expect(page.locator("#login-needed")).to_contain_text(HOWTO)
    assert not [c for c in fresh.cookies() if c["name"] == COOKIE]
    assert page.goto(url).status == 401


def test_an_agent_page_through_the_host_streams_live_and_its_terminal_works(fresh, hive):
    h, _ = hive
    h.login(fresh)
    port = wait_for(lambda: row(h, "manager")["port"], 20, what="the manager's port")
    agent = f"http://127.0.0.1:{port}/"
    page = fresh.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(agent)
    expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
    # a change made elsewhere arrives over the relayed stream
    box = page.locator("#composer textarea[name=body]")
    box.fill("/model sonnet")
    box.press("Enter")
    expect(page.locator("#term .row", has_text="model → sonnet")).to_be_visible(timeout=5_000)
    # a message typed here is the operator's, sent by the host
    box.fill("hello from the operator's page")
    box.press("Enter")
    expect(page.locator(".toast", has_text="sent #")).to_be_visible(timeout=5_000)
    wait_for(lambda: any(m["from"] == "operator" and "operator's page" in m["body"]
                         for m in h.agent("manager", "recent")["messages"]), 5,
             what="the message in the manager's inbox")

    page.goto(agent + "terminal")
    expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
    state = page.locator("#shell-state")        # the first visit starts a shell by itself
    expect(state).to_have_text(re.compile(r"● running · pid \d+"), timeout=10_000)
    page.locator("#shell .xterm").click()
    page.keyboard.type("echo through-the-host-$((6*7))")
    page.keyboard.press("Enter")
    wait_for(lambda: "through-the-host-42" in screen(page), 10,
             what="the command's output on the screen")
    page.locator("#shell-stop button").click()
    expect(state).to_contain_text("no shell", timeout=10_000)
    assert errors == [], errors
    page.close()
