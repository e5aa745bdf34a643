"""The terminal page in a real Chromium: xterm.js on a real shell in a real harness's pty,
under a real host (process backend; no claude turn runs, so claude is /bin/false).
"""

import re
import shutil

import pytest
from playwright.sync_api import expect

from browser import ARTIFACTS
from hive import HostProcess, use_session, wait_for
from test_terminal import agent_page, gone

SCREEN = """() => {
  const b = window.hiveTerminal.term.buffer.active;
  const lines = [];
  for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
  return lines;
}"""


@pytest.fixture(scope="module")
def hive():
    h = HostProcess().start()
    try:
        yield h
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


@pytest.fixture(scope="module")
def agent(hive):
    return agent_page(hive, "manager")


@pytest.fixture
def no_shell_after(agent):
    """Whatever shell a test leaves running is stopped, and gone, when it ends."""
    yield
    status, _, reply = agent.post("/terminal/stop", as_json=True)
    if status == 200:
        wait_for(lambda: gone(reply["pid"]), 10, what="the shell to end")


def screen(page):
    return page.evaluate(SCREEN)


def wait_for_line(page, line, timeout=10):
    wait_for(lambda: line in screen(page), timeout, what=f"a line {line!r} on the screen")


def test_typing_runs_in_the_shell_and_the_screen_survives_a_reload(context, agent,
                                                                   no_shell_after):
    use_session(context, agent.cookie)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"http://127.0.0.1:{agent.port}/terminal")
    expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
    # the first visit starts a shell by itself
    state = page.locator("#shell-state")
    expect(state).to_have_text(re.compile(r"● running · pid \d+"), timeout=10_000)
    expect(page.locator("#shell-note")).to_be_hidden()
    expect(page.locator("#shell-stop")).to_be_visible()
    expect(page.locator("#shell-start")).to_be_hidden()
    rows = page.locator("#shell .xterm-rows")
    expect(rows).to_contain_text("state", timeout=10_000)      # the prompt shows the cwd

    page.locator("#shell .xterm").click()
    page.keyboard.type("echo hi-there")
    page.keyboard.press("Enter")
    wait_for_line(page, "hi-there")
    expect(rows).to_contain_text("hi-there")

    # the shell has the size the page fit the terminal to
    size = page.evaluate("[window.hiveTerminal.term.rows, window.hiveTerminal.term.cols]")
    assert size[0] > 10 and size[1] > 60, size
    page.keyboard.type("stty size")
    page.keyboard.press("Enter")
    wait_for_line(page, f"{size[0]} {size[1]}")
    page.keyboard.type("printf '\\033[1;35mmauve\\033[0m and \\033[32mgreen\\033[0m\\n'")
    page.keyboard.press("Enter")
    wait_for_line(page, "mauve and green")
    page.screenshot(path=str(ARTIFACTS / "agent-terminal.png"), full_page=True)

    # a reload gets the screen's recent past from the ring
    page.reload()
    expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
    expect(rows).to_contain_text("hi-there", timeout=10_000)
    expect(state).to_have_text(re.compile(r"● running"))

    # ■ stop ends it and says so; Enter in the terminal starts the next
    page.locator("#shell-stop button").click()
    expect(state).to_have_text("○ no shell", timeout=10_000)
    expect(rows).to_contain_text("[the shell was killed by SIGHUP")
    expect(page.locator("#shell-start")).to_be_visible()
    page.locator("#shell .xterm").click()
    page.keyboard.press("Enter")
    expect(state).to_have_text(re.compile(r"● running · pid \d+"), timeout=10_000)
    page.keyboard.type("echo again-$((4*4))")
    page.keyboard.press("Enter")
    wait_for_line(page, "again-16")
    assert errors == [], errors
    page.close()


def test_without_javascript_the_page_says_so_and_the_buttons_post(browser, agent,
                                                                  no_shell_after):
    context = browser.new_context(java_script_enabled=False)
    use_session(context, agent.cookie)
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{agent.port}/terminal")
        expect(page.locator("#shell-note")).to_contain_text("the terminal needs javascript")
        with page.expect_navigation():
            page.locator("#shell-start button").click()
        expect(page.locator(".flash-ok")).to_contain_text("shell started")
        expect(page.locator("#shell-state")).to_contain_text("running")
        with page.expect_navigation():
            page.locator("#shell-stop button").click()
        expect(page.locator(".flash-ok")).to_contain_text("hung up on the shell")
    finally:
        context.close()
