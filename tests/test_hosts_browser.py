"""One hive, two hosts on one PostgreSQL database, seen from the first host's dashboard in
a real Chromium: the other host's agents with their host, a question asked there and
answered here, and a host that dies shown down, live, and back."""

import json
import shutil

import pytest
from playwright.sync_api import expect

from browser import live_page
from hive import HostProcess, free_port


@pytest.fixture
def hive(pgcluster, pgdb):
    url = pgcluster.url(pgdb)
    started = []
    try:
        north = HostProcess(dashboard_port=free_port(),
                            args=["--broker", url, "--host-name", "north"]).start()
        started.append(north)
        south = HostProcess(args=["--broker", url, "--host-name", "south"]).start()
        started.append(south)
        assert south.admin("spawn", name="bob")["ok"]
        yield north, south, f"http://127.0.0.1:{north.dashboard_port}/"
    finally:
        for h in started:
            h.stop()
            shutil.rmtree(h.root, ignore_errors=True)


def test_the_dashboard_shows_the_other_hosts_agents_and_their_host_going_down_and_back(
        context, hive):
    north, south, url = hive
    with live_page(context, north, url) as page:
        bob = page.locator("#agent-bob")
        expect(bob.locator(".b-host")).to_have_text("⌂ south", timeout=10_000)
        expect(bob.locator(".b-running")).to_be_visible(timeout=10_000)
        expect(page.locator("#agent-manager .b-host")).to_have_text("⌂ north")
        south.kill()
        expect(bob.locator(".b-down")).to_have_text("host down", timeout=15_000)
        south.start()
        expect(bob.locator(".b-running")).to_be_visible(timeout=20_000)
        expect(bob.locator(".b-down")).to_have_count(0)


def test_a_question_asked_on_the_other_host_is_answered_on_this_hosts_dashboard(
        context, hive):
    north, south, url = hive
    with live_page(context, north, url) as page:
        qid = south.agent("bob", "ask", question="north or south?",
                          options=["north", "south"], ttl_seconds=600)["id"]
        card = page.locator(f"#q-{qid}")
        expect(card).to_contain_text("north or south?", timeout=10_000)
        card.get_by_label("north").check()
        card.get_by_role("button", name="◆ 4NSW3R").click()
        expect(card).to_have_count(0, timeout=10_000)
    answer = south.agent("bob", "recv", wait_seconds=10, max=10)["messages"]
    bodies = [json.loads(m["body"]) for m in answer if m["from"] == "system"]
    assert any(b.get("id") == qid and b.get("answer") == "north" for b in bodies)
