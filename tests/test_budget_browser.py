"""The dashboard's budgets panel in a real Chromium: each agent's spend drawn against its
budget and kept live as turns end, the raise and lift forms, and the forms' need of the
operator's session."""

import shutil
import urllib.error
import urllib.parse
import urllib.request

import pytest
from playwright.sync_api import expect

from browser import ARTIFACTS
from hive import HostProcess, clean_env, free_port
from test_dashboard_browser import page  # noqa: F401  (fixture: a logged-in, live dashboard)


@pytest.fixture(scope="module")
def hive():
    h = HostProcess(dashboard_port=free_port(),
                    env={**clean_env(), "HYPERHIVE_DAILY_BUDGET_USD": "1"}).start()
    url = f"http://127.0.0.1:{h.dashboard_port}/"
    for name in ("alice", "bob"):
        assert h.admin("spawn", name=name)["ok"]
        # stopped: the tests report their turns' costs through their sockets
        assert h.admin("stop", name=name)["ok"]
    yield h, url
    h.stop()
    shutil.rmtree(h.root, ignore_errors=True)


def width(locator):
    return float(locator.get_attribute("width"))


def test_spend_is_drawn_against_the_budget_and_follows_each_turn_live(page, hive):
    h, _ = hive
    bar = page.locator("#budget-bob")
    expect(bar).to_have_attribute("data-spent", "0.0", timeout=5_000)
    expect(bar.locator("rect.fill")).to_have_count(0)
    assert h.agent("bob", "report", turn_cost_usd=0.25)["ok"]
    expect(bar).to_have_attribute("data-spent", "0.25", timeout=5_000)
    expect(bar).to_have_class("budget is-ok")
    track, fill = width(bar.locator("rect.track")), width(bar.locator("rect.fill"))
    assert fill == pytest.approx(track / 4, abs=0.5)
    expect(bar).to_contain_text("$0.25 of $1.00")

    assert h.agent("bob", "report", turn_cost_usd=0.6)["ok"]          # past 80%
    expect(bar).to_have_class("budget is-near", timeout=5_000)
    assert h.agent("bob", "report", turn_cost_usd=0.65)["ok"]         # $1.50: over
    expect(bar).to_have_class("budget is-over", timeout=5_000)
    expect(bar.locator(".b-budget")).to_have_text("held")
    # over the budget the fill runs past the track's end, where the mark stands
    track, fill = width(bar.locator("rect.track")), width(bar.locator("rect.fill"))
    assert fill == pytest.approx(track * 1.5, abs=0.5)
    assert float(bar.locator("line.mark").get_attribute("x1")) == pytest.approx(track, abs=0.5)
    assert page.evaluate("getComputedStyle(document.querySelector('#budget-bob rect.fill'))"
                         ".fill") == "rgb(255, 107, 129)"          # the warning red
    # the agent's row says why it takes nothing
    expect(page.locator("#agent-bob .b-budget")).to_have_text("budget", timeout=5_000)
    expect(page.locator("#agent-alice .b-budget")).to_have_count(0)
    page.locator("#budgets").screenshot(path=str(ARTIFACTS / "dashboard-budgets.png"))
    assert page.evaluate("window.__stillHere") == "yes"


def test_raise_and_lift_from_the_panel_free_the_agent(page, hive):
    h, _ = hive
    assert h.agent("alice", "report", turn_cost_usd=1.0)["ok"]
    assert h.admin("send", to="alice", body="waiting for the raise")["ok"]
    row = page.locator("#budget-alice")
    expect(row.locator(".b-budget")).to_have_text("held", timeout=5_000)
    row.locator("input[name=raise_usd]").fill("0.5")
    row.get_by_role("button", name="+ R41S3").click()
    expect(page.locator(".toast").last).to_contain_text("alice's budget raised by $0.50")
    expect(row).to_contain_text("$1.00 of $1.50 (raised +$0.50)", timeout=5_000)
    expect(row.locator(".b-budget")).to_have_count(0)
    expect(page.locator("#agent-alice .b-budget")).to_have_count(0)
    assert [m["body"] for m in h.agent("alice", "recv")["messages"]] == ["waiting for the raise"]

    assert h.agent("alice", "report", turn_cost_usd=0.5)["ok"]
    expect(row.locator(".b-budget")).to_have_text("held", timeout=5_000)
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept()
    page.once("dialog", answer)
    row.get_by_role("button", name="L1FT").click()
    expect(row).to_contain_text("lifted for today", timeout=5_000)
    expect(row).to_have_class("budget is-free")
    expect(row.locator("form")).to_have_count(0)
    assert len(asked) == 1 and "alice" in asked[0]
    assert next(b for b in h.admin("budget")["budgets"] if b["name"] == "alice")["lifted"]


def test_a_bad_raise_is_refused_with_a_sentence(page, hive):
    h, _ = hive
    row = page.locator("#budget-manager")
    # The browser's own check would stop 0; the host refuses what a hand-made post sends.
    row.locator("input[name=raise_usd]").evaluate("el => el.removeAttribute('min')")
    row.locator("input[name=raise_usd]").fill("0")
    row.get_by_role("button", name="+ R41S3").click()
    expect(page.locator(".toast").last).to_contain_text("the raise must be from $0.01")
    assert next(b for b in h.admin("budget")["budgets"]
                if b["name"] == "manager")["raised_usd"] == 0


def test_the_budget_forms_need_the_operators_session(hive):
    h, url = hive
    before = next(b for b in h.admin("budget")["budgets"] if b["name"] == "bob")
    for fields in ({"raise_usd": "100"}, {"lift": "yes"}):
        data = urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(url + "budget/bob", data=data, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
    assert next(b for b in h.admin("budget")["budgets"] if b["name"] == "bob") == before


def test_without_javascript_the_raise_posts_and_comes_back_with_a_flash(browser, hive):
    h, url = hive
    context = browser.new_context(java_script_enabled=False)
    h.login(context)
    try:
        page = context.new_page()
        page.goto(url)
        row = page.locator("#budget-manager")
        row.locator("input[name=raise_usd]").fill("2")
        with page.expect_navigation():
            row.get_by_role("button", name="+ R41S3").click()
        expect(page.locator(".flash-ok")).to_contain_text("manager's budget raised by $2.00")
        expect(page.locator("#budget-manager")).to_contain_text("(raised +$2.00)")
    finally:
        context.close()
