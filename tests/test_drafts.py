"""Two-step spawn: the manager drafts an agent, edits its repos, the operator boots it."""

import json
import shutil

from playwright.sync_api import expect

from browser import ARTIFACTS
from hive import wait_for
from test_apply_commit import commit_config, git, manager_events, tags
from test_dashboard import start_host


def draft(h, name="scout", **fields):
    reply = h.agent("manager", "request_spawn_draft", name=name, **fields)
    assert reply["ok"], reply
    return reply


def places(h, name):
    lib = h.root / "lib"
    return lib / "agents" / name, lib / "applied" / name


def test_a_draft_has_repos_and_state_but_no_agent(host):
    h = host
    reply = draft(h, description="reads the forums")
    agent_dir, applied = places(h, "scout")
    assert reply["config_repo"] == str(agent_dir / "config")
    assert json.loads((agent_dir / "config" / "agent.json").read_text())["model"] == "haiku"
    assert (agent_dir / "state").is_dir() and (applied / ".git").is_dir()
    assert "scout" not in h.admin("list")["agents"]
    assert h.admin("drafts")["drafts"][0]["description"] == "reads the forums"
    assert h.agent("manager", "drafts")["drafts"][0]["name"] == "scout"
    # a draft is not a recipient yet
    assert h.agent("manager", "send", to="scout", body="hi")["code"] == "not_found"


def test_the_approved_commit_boots_the_agent_with_its_config(host):
    h = host
    draft(h)
    agent_dir, applied = places(h, "scout")
    (agent_dir / "state" / "notes.md").write_text("# scout\nwatch the forums\n")
    sha = commit_config(agent_dir / "config", model="sonnet", allowed_recipients=["operator"])
    reply = h.agent("manager", "request_spawn_commit", name="scout", commit_ref=sha,
                    description="sonnet, and it only talks to the operator")
    assert reply["ok"] and reply["sha"] == sha
    approval = h.admin("pending")["approvals"][0]
    assert approval["kind"] == "spawn" and approval["fetched_sha"] == sha
    assert '"sonnet"' in approval["diff"]
    assert f"proposal/{approval['id']}" in tags(applied)
    assert h.admin("approve", id=approval["id"])["ok"]
    assert "scout" in h.admin("list")["agents"] and h.admin("drafts")["drafts"] == []
    row = wait_for(lambda: _row(h, "scout") if _row(h, "scout")["running"] else None,
                   what="scout running")
    assert row["model"] == "sonnet"
    assert git(applied, "rev-parse", "HEAD") == sha
    wait_for(lambda: f"deployed/{approval['id']}" in tags(applied), what="the deployed tag")
    assert (agent_dir / "state" / "notes.md").read_text().startswith("# scout")
    resolved = manager_events(h, "approval_resolved")[-1]
    assert resolved["status"] == "approved" and resolved["rollout"] == "settling"
    assert manager_events(h, "spawned")[-1]["agent"] == "scout"
    # the committed policy is in force from the first boot
    assert h.agent("scout", "send", to="manager", body="up")["ok"]
    assert h.admin("spawn", name="bob")["ok"]
    assert h.agent("scout", "send", to="bob", body="x")["code"] == "forbidden"


def test_denied_draft_stays_a_draft_and_can_be_discarded(host):
    h = host
    draft(h)
    agent_dir, applied = places(h, "scout")
    sha = commit_config(agent_dir / "config", model="opus")
    aid = h.agent("manager", "request_spawn_commit", name="scout", commit_ref=sha)["id"]
    refused = h.agent("manager", "discard_draft", name="scout")
    assert refused["code"] == "conflict" and "deny it first" in refused["error"]
    assert h.admin("deny", id=aid, note="opus is too dear for this")["ok"]
    assert f"denied/{aid}" in tags(applied)
    assert h.admin("drafts")["drafts"][0]["name"] == "scout"
    assert manager_events(h, "approval_resolved")[-1]["status"] == "denied"
    assert h.admin("discard_draft", name="scout")["ok"]
    assert not agent_dir.exists() and not applied.exists()
    assert manager_events(h, "draft_discarded")[-1]["agent"] == "scout"
    assert h.admin("drafts")["drafts"] == []


def test_draft_refusals(host_with_alice):
    h = host_with_alice
    for name, code in (("alice", "conflict"), ("../x", "bad_args"), ("Scout", "bad_args"),
                       ("averyveryverylongname", "bad_args")):
        assert h.agent("manager", "request_spawn_draft", name=name)["code"] == code, name
    draft(h)
    again = h.agent("manager", "request_spawn_draft", name="scout")
    assert again["code"] == "conflict" and "a draft" in again["error"]
    assert h.agent("manager", "request_spawn_commit", name="alice",
                   commit_ref="HEAD")["code"] == "not_found"
    assert h.agent("manager", "request_spawn_commit", name="scout",
                   commit_ref="no-such-ref")["code"] == "bad_args"
    assert h.agent("alice", "request_spawn_draft", name="other")["code"] == "unknown_cmd"
    assert h.admin("discard_draft", name="nobody")["code"] == "not_found"
    # destroyed state is not silently reused as a draft
    assert h.admin("destroy", name="alice")["ok"]
    kept = h.agent("manager", "request_spawn_draft", name="alice")
    assert kept["code"] == "conflict" and "revive" in kept["error"]


def test_ctl_lists_and_discards_drafts(host):
    h = host
    draft(h, description="for the ctl")
    r = h.ctl("drafts")
    assert r.returncode == 0 and r.stdout.startswith("scout") and "for the ctl" in r.stdout
    assert h.ctl("discard-draft", "scout").returncode == 0
    assert h.ctl("drafts").stdout.strip() == "(no drafts)"


def _row(h, name):
    return next(r for r in h.admin("status")["agent_statuses"] if r["name"] == name)



def test_the_dashboard_shows_drafts_apart_from_kept_state():
    h, dash = start_host()
    try:
        draft(h, description="<b>not bold</b>")
        s = dash.state()
        assert [d["name"] for d in s["drafts"]] == ["scout"] and s["kept"] == []
        page = dash.get("/")[2]
        assert "DR4FTS" in page and 'id="draft-scout"' in page
        assert "&lt;b&gt;not bold&lt;/b&gt;" in page and "<b>not bold</b>" not in page
        # discarding asks once without JavaScript, then deletes
        status, _, asked = dash.post("/discard-draft/scout")
        assert status == 200 and 'name="confirm" value="yes"' in asked
        assert dash.state()["drafts"]
        assert "discarded" in dash.form("/discard-draft/scout", {"confirm": "yes"})["ok"][0]
        assert dash.state()["drafts"] == [] and 'id="draft-scout"' not in dash.get("/")[2]
        status, reply = dash.post("/discard-draft/..", {"confirm": "yes"}, as_json=True)
        assert status == 400 and reply["code"] == "bad_args"
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


def test_a_draft_appears_live_and_boots_from_the_page(context):
    h, dash = start_host()
    h.login(context)
    page = context.new_page()
    try:
        page.goto(dash.origin + "/")
        expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
        page.evaluate("window.__same_page = true")
        draft(h, description="live draft")
        row = page.locator("#draft-scout")
        expect(row).to_contain_text("live draft", timeout=5_000)
        expect(page.locator("#drafts-count")).to_have_text("1")
        agent_dir, _ = places(h, "scout")
        sha = commit_config(agent_dir / "config", model="sonnet")
        aid = h.agent("manager", "request_spawn_commit", name="scout", commit_ref=sha)["id"]
        approval = page.locator(f"#approval-{aid}")
        expect(approval.locator("details.diff")).to_contain_text('"sonnet"', timeout=5_000)
        approval.get_by_role("button", name="◆ APPR0VE").click()
        expect(page.locator("#agent-scout")).to_contain_text("sonnet", timeout=15_000)
        expect(row).to_have_count(0)
        expect(page.locator("#drafts-count")).to_have_text("0")
        # the system events it caused read as a name and fields in the flow, live
        event = page.locator("#flow-list .event", has_text="approval_resolved").first
        expect(event).to_be_visible(timeout=5_000)
        expect(event.locator("xpath=..")).to_contain_text("agent scout · kind spawn · "
                                                          "status approved · tag approved/")
        # and, once scout has stayed up on its config, that it is deployed
        deployed = page.locator("#flow-list .event", has_text="config_deployed").first
        expect(deployed.locator("xpath=..")).to_contain_text(
            "agent scout · kind spawn · tag deployed/", timeout=10_000)
        assert page.evaluate("window.__same_page") is True, "the page reloaded"
        page.screenshot(path=str(ARTIFACTS / "dashboard-drafts.png"), full_page=True)
    finally:
        page.close()
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)
