"""The reminders panels in a real Chromium: on the dashboard rows arrive live, count down,
and the cancel button takes one away without a reload; an open agent page follows what
the host has within seconds, and its due times tick too."""

from playwright.sync_api import expect

from browser import live_page
from test_dashboard_browser import hive, page, still_same_page  # noqa: F401  (fixtures)
from test_failed_browser import live_hive, stub  # noqa: F401  (fixtures)


def test_a_reminder_appears_live_counts_down_and_is_cancelled_from_the_page(page, hive):
    h, _ = hive
    rid = h.agent("alice", "remind", message="stretch your legs", delay_seconds=120)["id"]
    row = page.locator(f"#reminder-{rid}")
    expect(row).to_be_visible(timeout=10_000)
    expect(row).to_contain_text("stretch your legs")
    expect(page.locator("#reminders-count")).to_have_text("1", timeout=5_000)
    due = page.locator(f"#reminder-{rid}-due")
    first = due.inner_text()
    expect(due).not_to_have_text(first, timeout=5_000)        # the server ticks it down
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="C4NC3L").click()
    expect(row).to_have_count(0, timeout=10_000)
    expect(page.locator("#reminders-count")).to_have_text("0", timeout=5_000)
    assert h.admin("reminders")["reminders"] == []
    assert still_same_page(page)


def test_an_open_agent_page_follows_reminders_set_and_cancelled_elsewhere(context, live_hive):
    h, url = live_hive
    with live_page(context, h, url) as agent:
        expect(agent.locator("#reminders-count")).to_have_text("0")
        # set and cancelled through the host's sockets: no turn starts or ends on the page
        rid = h.agent("alice", "remind", message="water the plants", delay_seconds=300)["id"]
        expect(agent.locator("#reminders-count")).to_have_text("1", timeout=15_000)
        due = agent.locator(f"#due-reminder-{rid}")
        expect(due).to_be_attached()
        first = due.inner_text()
        expect(due).not_to_have_text(first, timeout=5_000)         # the feed ticks it down
        assert h.admin("cancel_reminder", id=rid)["ok"]
        expect(agent.locator("#reminders-count")).to_have_text("0", timeout=15_000)
        expect(due).to_have_count(0)
