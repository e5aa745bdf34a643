"""The dashboard's reminders panel in a real Chromium: rows arrive live, count down, and the
cancel button takes one away without a reload."""

from playwright.sync_api import expect

from test_dashboard_browser import hive, page, still_same_page  # noqa: F401  (fixtures)


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
