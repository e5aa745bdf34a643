"""The failed panels in a real Chromium: on the dashboard a row arrives live and its
retry and discard buttons take it away; on the agent page a real claude turn that
fails lands in the panel live, and its retry runs the turn again."""

import shutil

import pytest
from playwright.sync_api import expect

from anthropic_stub import Stub, claude_env, find_claude
from browser import live_page
from hive import HostProcess, free_port, short_tmpdir, wait_for
from test_dashboard_browser import hive, page, still_same_page  # noqa: F401  (fixtures)
from test_e2e import row as status_row
from test_e2e import spawn


def failed_for(h, name, body):
    """A message to `name` that its (stopped) harness took and handed over as failed."""
    msg_id = h.admin("send", to=name, body=body)["id"]
    [m] = h.agent(name, "recv", max=1)["messages"]
    assert m["id"] == msg_id
    assert h.agent(name, "fail_message", id=msg_id, outcome="failed",
                   note="claude exited 1", stderr_tail="Traceback: it broke\n", attempts=3)["ok"]
    return msg_id


def test_a_failed_row_appears_live_and_retry_and_discard_take_it_away(page, hive):
    h, _ = hive
    msg_id = failed_for(h, "alice", "compile the report")
    row = page.locator(f"#failed-{msg_id}")
    expect(row).to_be_visible(timeout=10_000)
    expect(row).to_contain_text("compile the report")
    expect(row).to_contain_text("failed \u00d7 3")
    expect(page.locator("#failed-count")).to_have_text("1", timeout=5_000)
    stderr = row.locator("details.failed-stderr")
    expect(stderr.locator("pre")).not_to_be_visible()
    stderr.locator("summary").click()
    expect(stderr.locator("pre")).to_have_text("Traceback: it broke\n")
    row.get_by_role("button", name="R3TRY").click()
    expect(row).to_have_count(0, timeout=10_000)
    expect(page.locator("#failed-count")).to_have_text("0", timeout=5_000)
    [again] = h.agent("alice", "recv", max=1)["messages"]
    assert again["id"] == msg_id and again["redelivered"] is True

    assert h.agent("alice", "fail_message", id=msg_id, outcome="failed")["ok"]
    expect(row).to_be_visible(timeout=10_000)
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="D1SC4RD").click()
    expect(row).to_have_count(0, timeout=10_000)
    assert h.admin("failed")["failed"] == []
    assert h.agent("alice", "requeue")["requeued"] == 0     # discarded stays handled
    assert still_same_page(page)


@pytest.fixture
def stub():
    with Stub() as s:
        yield s


@pytest.fixture
def live_hive(stub):
    root = short_tmpdir()
    env = claude_env(stub, root / "home")
    env.update(HYPERHIVE_LOG="stderr", HYPERHIVE_TURN_ATTEMPTS="1")
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
        env.pop(key, None)
    h = HostProcess(root=root, claude_bin=find_claude(), env=env,
                    dashboard_port=free_port()).start()
    try:
        spawn(h, "alice")
        yield h, f"http://127.0.0.1:{status_row(h, 'alice')['port']}/"
    finally:
        h.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_the_agent_page_shows_its_failed_turn_live_and_retries_it(context, live_hive, stub):
    h, url = live_hive
    with live_page(context, h, url) as agent:
        expect(agent.locator("#failed-count")).to_have_text("0")
        stub.add_rule(r"doomed errand", agent="alice", times=1,
                      steps=[{"error": 500, "message": "the model fell over"}])
        msg_id = h.admin("send", to="alice", body="run the doomed errand")["id"]
        expect(agent.locator("#failed-count")).to_have_text("1", timeout=60_000)
        agent.locator("details#failed > summary").click()       # the panel opens on a click
        row = agent.locator(f"#failed-{msg_id}")
        expect(row).to_be_visible()
        expect(row).to_contain_text("run the doomed errand")
        expect(row).to_contain_text("API Error: 500")
        # a fresh load of the page shows the same row, its panel open
        agent.reload()
        expect(agent.locator("#live")).to_have_class("live is-live", timeout=10_000)
        expect(row).to_be_visible()
        expect(agent.locator("#failed-count")).to_have_text("1")
        # the retry goes to the host (the operator's session), the turn runs again and is ok
        row.get_by_role("button", name="R3TRY").click()
        expect(row).to_have_count(0, timeout=60_000)
        expect(agent.locator("#failed-count")).to_have_text("0")
        assert h.admin("failed")["failed"] == []
        # the scripted error fired once: the second turn is answered and acks the message
        wait_for(lambda: len([r for r in stub.main_requests()
                              if "doomed errand" in r["last_user_text"]]) == 2,
                 timeout=60, what="the retried turn")
        wait_for(lambda: status_row(h, "alice")["turn_state"] == "idle"
                 and h.agent("alice", "requeue")["requeued"] == 0, timeout=30, what="the ack")
        expect(agent.locator("#failed-count")).to_have_text("0")
