"""The config page in a real Chromium: a proposal and its denial reach an open page's
history without a reload."""

from playwright.sync_api import expect

from browser import live_page
from test_apply_commit import commit_config
from test_dashboard_browser import hive  # noqa: F401  (fixture)


def test_the_config_page_shows_a_proposal_and_its_denial_live(context, hive):
    h, url = hive
    with live_page(context, h, url + "agents/alice/config") as page:
        page.evaluate("window.__stillHere = 'yes'")
        sha = commit_config(h.root / "lib" / "agents" / "alice" / "config", model="opus")
        aid = h.agent("manager", "request_apply_commit", agent="alice", commit_ref=sha)["id"]
        history = page.locator(".config-history")
        expect(history.locator(".b-tag-proposal", has_text=f"proposal/{aid}")).to_be_visible(
            timeout=10_000)
        expect(history).to_contain_text("set model")
        assert h.admin("deny", id=aid)["ok"]
        expect(history.locator(".b-tag-denied", has_text=f"denied/{aid}")).to_be_visible(
            timeout=10_000)
        assert page.evaluate("window.__stillHere") == "yes"         # swapped, not reloaded


def test_the_live_part_is_swapped_in_place_not_nested(context, hive):
    h, url = hive
    with live_page(context, h, url + "agents/alice/config") as page:
        sha = commit_config(h.root / "lib" / "agents" / "alice" / "config", model="sonnet")
        aid = h.agent("manager", "request_apply_commit", agent="alice", commit_ref=sha)["id"]
        expect(page.locator(".b-tag-proposal", has_text=f"proposal/{aid}")).to_be_visible(
            timeout=10_000)
        assert page.locator("#config-live").count() == 1
        assert page.locator("#config-live > section").count() == 2
        assert h.admin("deny", id=aid)["ok"]
