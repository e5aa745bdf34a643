"""The dashboard in a real Chromium: an agent's rate-limit badge comes and goes live."""

import shutil
import time

import pytest
from playwright.sync_api import expect

from browser import ARTIFACTS
from hive import HostProcess, free_port, wait_for
from hyperhive import formats


@pytest.fixture
def hive():
    h = HostProcess(dashboard_port=free_port()).start()
    assert h.admin("spawn", name="alice")["ok"]
    # alice's harness waits for a login: once it has said so, the tests speak for it.
    wait_for(lambda: h.admin("status")["agent_statuses"][-1]["needs_login"], timeout=20,
             what="alice's harness to report")
    yield h
    h.stop()
    shutil.rmtree(h.root, ignore_errors=True)


def test_the_rate_limit_badge_says_until_when_and_goes_when_the_agent_is_back(context, hive):
    h = hive
    h.login(context)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"http://127.0.0.1:{h.dashboard_port}/")
    expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
    row = page.locator("li.agent[data-name='alice']")
    expect(row).to_be_visible()
    expect(row.locator(".b-ratelimit")).to_have_count(0)

    until = time.time() + 900
    assert h.agent("alice", "report", rate_limited_until=until, status="rate_limited")["ok"]
    badge = row.locator(".b-ratelimit")
    expect(badge).to_have_text(f"⏸ rate limited until {formats.moment(until, time.time())}",
                               timeout=5_000)
    assert "reset" in badge.get_attribute("title")
    page.screenshot(path=str(ARTIFACTS / "dashboard-rate-limited.png"), full_page=True)

    assert h.agent("alice", "report", status="online")["ok"]
    expect(row.locator(".b-ratelimit")).to_have_count(0, timeout=5_000)
    assert errors == [], errors
    page.close()
