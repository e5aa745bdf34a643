"""End to end: a real host, real harnesses and the real claude CLI, on a scripted API.

The only stand-in is the model: claude talks to tests/anthropic_stub.py on
127.0.0.1, which answers with scripted text and tool calls. claude really
starts `hyperhive mcp`, really calls our tools, and really prints stream-json.
"""

import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.request

import pytest

from anthropic_stub import Stub, claude_env, find_claude
from hive import ENTRY, PYTHON, HostProcess, short_tmpdir, wait_for
from journald import entries


@pytest.fixture
def stub():
    with Stub() as s:
        yield s


def start_hive(stub, **env_extra):
    root = short_tmpdir()
    env = claude_env(stub, root / "home")
    env.update({"HYPERHIVE_LOG": "stderr", "HYPERHIVE_RATE_LIMIT_SLEEP": "2", **env_extra})
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
        env.pop(key, None)
    return HostProcess(root=root, claude_bin=find_claude(), env=env).start()


@pytest.fixture
def hive(stub):
    h = start_hive(stub)
    yield h
    h.stop()


def spawn(h, name):
    assert h.admin("spawn", name=name)["ok"]
    wait_for(lambda: row(h, name)["turn_state"] == "idle", timeout=30,
             what=f"{name}'s harness to come online")


def row(h, name):
    return next(r for r in h.admin("status")["agent_statuses"] if r["name"] == name)


def set_config(h, name, **fields):
    path = h.root / "lib" / "applied" / name / "agent.json"
    config = json.loads(path.read_text())
    config.update(fields)
    path.write_text(json.dumps(config))
    assert h.admin("rebuild", name=name)["ok"]


def stats_rows(h, name):
    path = h.root / "lib" / "agents" / name / "harness" / "hyperhive-turn-stats.sqlite"
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("select * from turn_stats order by id")]


def events(h, name, kind=None):
    path = h.root / "lib" / "agents" / name / "harness" / "hyperhive-events.sqlite"
    with sqlite3.connect(path) as db:
        rows = db.execute("select kind, payload from events order by id").fetchall()
    return [(k, json.loads(p)) for k, p in rows if kind is None or k == kind]


def inbox_bodies(h):
    return [m["body"] for m in h.admin("inbox", limit=100)["messages"]]


def page(h, name, path, data=None):
    port = row(h, name)["port"]
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 headers={"Accept": "application/json", "Cookie": h.cookie})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_operator_message_becomes_a_turn_that_answers(hive, stub):
    spawn(hive, "alice")
    stub.add_rule(r"what is 2\+2", agent="alice", steps=[
        {"text": "Let me answer.", "tool": "mcp__hyperhive__send",
         "input": {"to": "operator", "body": "it is 4"},
         "usage": {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 1000,
                   "cache_creation_input_tokens": 50}},
        {"text": "Answered.", "usage": {"input_tokens": 130, "output_tokens": 5,
                                        "cache_read_input_tokens": 1100,
                                        "cache_creation_input_tokens": 0}}])
    sent = hive.admin("send", to="alice", body="what is 2+2?")["id"]
    wait_for(lambda: "it is 4" in inbox_bodies(hive), timeout=60, what="alice's answer")
    wait_for(lambda: stats_rows(hive, "alice"), timeout=20, what="a turn_stats row")
    stat = stats_rows(hive, "alice")[-1]
    assert stat["result_kind"] == "ok" and stat["wake_from"] == "operator"
    assert json.loads(stat["tool_calls_json"]) == {"mcp__hyperhive__send": 1}
    assert stat["tool_call_count"] == 1
    assert stat["input_tokens"] == 230 and stat["output_tokens"] == 25
    assert stat["cache_read_input_tokens"] == 2100 and stat["cache_creation_input_tokens"] == 50
    assert stat["duration_ms"] > 0 and stat["model"] == "haiku"
    assert stat["inbox_depth"] == 0 and json.loads(stat["sends_json"]) == {"operator": 1}
    assert stat["notes_bytes"] is None
    # The turn's message was acked: a requeue puts nothing back.
    assert hive.agent("alice", "requeue")["requeued"] == 0
    assert sent in [m["id"] for m in hive.agent("alice", "recent")["messages"]]
    recorded = wait_for(lambda: events(hive, "alice", "turn_stats"), what="turn_stats")
    kinds = [k for k, _ in events(hive, "alice")]
    assert kinds.index("turn_start") < kinds.index("stream") < kinds.index("turn_end") \
        < kinds.index("turn_stats")
    assert recorded[-1][1] == {"id": stat["id"], "outcome": "ok"}
    states = [e["state"] for _, e in events(hive, "alice", "turn_state_changed")]
    assert states[-2:] == ["thinking", "idle"]
    settings = json.loads((hive.root / "run/agents/alice/claude-settings.json").read_text())
    assert settings["permissions"]["defaultMode"] == "dontAsk"
    assert settings["autoCompactEnabled"] is False


def test_turn_stats_record_inbox_depth_sends_and_notes_size(hive, stub):
    spawn(hive, "alice")
    spawn(hive, "bob")
    notes_md = hive.root / "lib" / "agents" / "alice" / "state" / "notes.md"
    notes = "# alice\n- bob answers pings ✓\n"
    stub.add_rule(r"hold on", agent="alice", steps=[{"text": "holding", "delay": 4}])
    stub.add_rule(r"queued one", agent="alice", steps=[
        {"tool": "mcp__hyperhive__send", "input": {"to": "operator", "body": "on it"}},
        {"tool": "mcp__hyperhive__send", "input": {"to": "bob", "body": "ping from alice"}},
        {"tool": "Write", "input": {"file_path": str(notes_md), "content": notes}},
        {"text": "noted"}])
    hive.admin("send", to="alice", body="hold on")
    wait_for(lambda: any("hold on" in r["last_user_text"] for r in stub.requests), timeout=30,
             what="alice's slow turn")
    # three arrive while she is busy: the first of them starts with two waiting behind it
    for body in ("queued one", "queued two", "queued three"):
        hive.admin("send", to="alice", body=body)
    wait_for(lambda: len(stats_rows(hive, "alice")) == 4, timeout=90, what="alice's 4 turns")
    rows = stats_rows(hive, "alice")
    assert [r["result_kind"] for r in rows] == ["ok"] * 4
    assert [r["inbox_depth"] for r in rows] == [0, 2, 1, 0]
    assert [json.loads(r["sends_json"]) for r in rows] == [{}, {"operator": 1, "peer": 1}, {}, {}]
    assert json.loads(rows[1]["tool_calls_json"]) == {"mcp__hyperhive__send": 2, "Write": 1}
    size = len(notes.encode())
    assert notes_md.read_text() == notes
    assert [r["notes_bytes"] for r in rows] == [None, size, size, size]
    assert "on it" in inbox_bodies(hive)
    stats = page(hive, "alice", "/api/stats?window=1h")
    assert stats["sends"] == {"peer": 1, "operator": 1, "manager": 0, "broadcast": 0}
    assert stats["inbox_depth"] == 0 and stats["notes_bytes"] == size
    assert max(d for d in stats["series"]["inbox_max"] if d is not None) == 2


def test_agents_talk_and_a_parked_recv_wakes_inside_a_turn(hive, stub):
    spawn(hive, "alice")
    spawn(hive, "bob")
    stub.add_rule(r"start the relay", agent="alice", steps=[
        {"tool": "mcp__hyperhive__send", "input": {"to": "bob", "body": "ping from alice"}},
        {"tool": "mcp__hyperhive__recv", "input": {"wait_seconds": 90}},
        {"tool": "mcp__hyperhive__send", "input": {"to": "operator", "body": "relay done"}},
        {"text": "done"}])
    stub.add_rule(r"ping from alice", agent="bob", steps=[
        {"tool": "mcp__hyperhive__send", "input": {"to": "alice", "body": "pong from bob"}},
        {"text": "ponged"}])
    hive.admin("send", to="alice", body="start the relay")
    wait_for(lambda: "relay done" in inbox_bodies(hive), timeout=90, what="the relay")
    results = stub.tool_results(agent="alice")
    assert any("pong from bob" in t and "message #" in t for t in results)
    # alice took bob's pong inside her turn; it was acked with the turn.
    wait_for(lambda: row(hive, "alice")["turn_state"] == "idle", timeout=30, what="idle")
    assert hive.agent("alice", "requeue")["requeued"] == 0


def test_prompt_too_long_compacts_and_retries(hive, stub):
    spawn(hive, "alice")
    hive.admin("send", to="alice", body="first, a normal turn")
    wait_for(lambda: len(stats_rows(hive, "alice")) >= 1, timeout=60, what="the first turn")
    stub.add_rule(r"now too long", agent="alice", times=1,
                  steps=[{"error": 400, "kind": "prompt_too_long"}])
    stub.add_rule(r"now too long", agent="alice",
                  steps=[{"tool": "mcp__hyperhive__send",
                          "input": {"to": "operator", "body": "made it after compacting"}},
                         {"text": "ok"}])
    hive.admin("send", to="alice", body="now too long")
    wait_for(lambda: "made it after compacting" in inbox_bodies(hive), timeout=90,
             what="the retried turn")
    states = [e["state"] for _, e in events(hive, "alice", "turn_state_changed")]
    assert "compacting" in states
    assert any(r["kind"] == "compact" for r in stub.requests)
    wait_for(lambda: len(stats_rows(hive, "alice")) >= 2, timeout=20, what="stats")
    assert stats_rows(hive, "alice")[-1]["result_kind"] == "ok"


def test_harness_killed_mid_turn_redelivers_flagged(hive, stub):
    spawn(hive, "alice")
    stub.add_rule(r"slow work", agent="alice", times=1,
                  steps=[{"text": "thinking hard", "delay": 60}])
    stub.add_rule(r"slow work", agent="alice", steps=[
        {"tool": "mcp__hyperhive__send", "input": {"to": "operator", "body": "finished later"}},
        {"text": "ok"}])
    hive.admin("send", to="alice", body="slow work")
    wait_for(lambda: any("slow work" in r["last_user_text"] for r in stub.requests), timeout=30,
             what="the slow request to reach the API")
    pid = int(subprocess.run(["pgrep", "-f", f"{ENTRY} agent --name alice --hive-dir {hive.root}/"],
                             capture_output=True, text=True).stdout.split()[0])
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: "finished later" in inbox_bodies(hive), timeout=90,
             what="the redelivered turn")
    prompts = [r["last_user_text"] for r in stub.requests if "slow work" in r["last_user_text"]]
    assert "[redelivered after harness restart" in prompts[-1]
    crash = [json.loads(m["body"]) for m in hive.agent("manager", "recent", limit=50)["messages"]
             if m["from"] == "system" and "container_crash" in m["body"]]
    assert crash and crash[0]["agent"] == "alice"


def test_cancel_during_a_slow_turn(hive, stub):
    spawn(hive, "alice")
    stub.add_rule(r"take your time", agent="alice", steps=[{"text": "late", "delay": 60}])
    hive.admin("send", to="alice", body="take your time")
    wait_for(lambda: row(hive, "alice")["turn_state"] == "thinking", timeout=30,
             what="alice thinking")
    time.sleep(1.5)
    started = time.monotonic()
    assert page(hive, "alice", "/api/cancel", data=b"")["cancelled"] == "turn"
    wait_for(lambda: stats_rows(hive, "alice"), timeout=20, what="the cancelled turn")
    assert time.monotonic() - started < 15
    assert stats_rows(hive, "alice")[-1]["result_kind"] == "cancelled"
    assert hive.agent("alice", "requeue")["requeued"] == 0    # the operator's cancel acks


def test_nap_holds_messages_until_deadline_and_cancel_ends_it(hive, stub):
    spawn(hive, "alice")
    stub.add_rule(r"have a rest", agent="alice", steps=[
        {"tool": "mcp__hyperhive__nap", "input": {"seconds": 5}}, {"text": "resting"}])
    hive.admin("send", to="alice", body="have a rest")
    wait_for(lambda: row(hive, "alice")["turn_state"] == "napping", timeout=60, what="napping")
    napped_at = time.monotonic()
    assert row(hive, "alice")["turn_state_until"] > time.time()
    hive.admin("send", to="alice", body="during the nap")
    time.sleep(2)
    assert row(hive, "alice")["unread"] == 1 and row(hive, "alice")["turn_state"] == "napping"
    wait_for(lambda: len(stats_rows(hive, "alice")) >= 2, timeout=30, what="the held message")
    assert time.monotonic() - napped_at >= 3.5
    # A second nap, ended early by the operator.
    hive.admin("send", to="alice", body="have a rest")
    wait_for(lambda: row(hive, "alice")["turn_state"] == "napping", timeout=60, what="napping")
    hive.admin("send", to="alice", body="wake early")
    assert page(hive, "alice", "/api/cancel", data=b"")["cancelled"] == "nap"
    wait_for(lambda: len(stats_rows(hive, "alice")) >= 4, timeout=30, what="the early wake")
    assert (hive.root / "lib/agents/alice/harness/hyperhive-nap").exists() is False
    # the stream says how each nap ended
    notes = [data["text"] for _, data in events(hive, "alice", "note")]
    assert "nap over: taking messages again" in notes and "nap ended by the operator" in notes


def test_wake_from_a_shell_pipeline(hive, stub):
    spawn(hive, "alice")
    stub.add_rule(r"deploy finished", agent="alice", steps=[
        {"tool": "mcp__hyperhive__send", "input": {"to": "operator", "body": "noted the deploy"}},
        {"text": "ok"}])
    env = dict(hive.env, HYPERHIVE_HIVE_DIR=str(hive.root / "run/agents/alice"))
    r = subprocess.run(f"printf 'deploy finished\\nall green' | {PYTHON} {ENTRY} wake "
                       "--from 'ci: deploy' --body -", shell=True, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "stored as message #" in r.stdout
    wait_for(lambda: "noted the deploy" in inbox_bodies(hive), timeout=60, what="the turn")
    prompt = next(r["last_user_text"] for r in stub.requests
                  if "deploy finished" in r["last_user_text"])
    assert "from `wake:ci: deploy`" in prompt and "all green" in prompt


def test_wake_from_claudes_own_shell_reaches_its_inbox_and_wakes_the_next_turn(hive, stub):
    spawn(hive, "alice")
    stub.add_rule(r"set up the nightly job", agent="alice", steps=[
        {"tool": "Bash", "input": {"command": "hyperhive wake --from cron --body hello",
                                   "description": "wake myself"}},
        {"tool": "Bash", "input": {"command": "echo hi | hyperhive wake --from cron --body -",
                                   "description": "wake myself from a pipe"}},
        {"text": "done"}])
    hive.admin("send", to="alice", body="set up the nightly job")
    results = wait_for(lambda: len(set(stub.tool_results("alice"))) >= 2 and
                       set(stub.tool_results("alice")), timeout=60, what="both of alice's commands")
    assert len({t for t in results if t.startswith("stored as message #")}) == 2, results
    woken = wait_for(lambda: [r["last_user_text"] for r in stub.requests
                              if "from `wake:cron`" in r["last_user_text"]],
                     timeout=60, what="a turn woken by alice's own `hyperhive wake`")
    assert "hello" in woken[0]
    got = [(m["from"], m["body"]) for m in hive.agent("alice", "recent", limit=10)["messages"]]
    assert ("wake:cron", "hello") in got and ("wake:cron", "hi") in got


def test_refused_send_reads_as_a_sentence_to_claude(hive, stub):
    spawn(hive, "alice")
    spawn(hive, "bob")
    set_config(hive, "alice", allowed_recipients=["operator"])
    wait_for(lambda: row(hive, "alice")["turn_state"] == "idle", timeout=30, what="rebuilt")
    stub.add_rule(r"tell bob", agent="alice", steps=[
        {"tool": "mcp__hyperhive__send", "input": {"to": "bob", "body": "psst"}},
        {"text": "I could not."}])
    hive.admin("send", to="alice", body="tell bob a secret")
    wait_for(lambda: any("may not send" in t for t in stub.tool_results("alice")),
             timeout=60, what="the refusal to reach claude")
    refusal = next(t for t in stub.tool_results("alice") if "may not send" in t)
    assert "manager" in refusal and "relay" in refusal
    assert not [m for m in hive.agent("bob", "recent")["messages"] if m["body"] == "psst"]


def test_failing_plugin_install_reaches_the_manager(hive, stub):
    spawn(hive, "alice")
    set_config(hive, "alice", claude_plugins=["nothere@no-such-market"])

    def reported():
        for m in hive.agent("manager", "recent", limit=100)["messages"]:
            if m["from"] == "system" and "plugin_install_failed" in m["body"]:
                return json.loads(m["body"])
        return None
    event = wait_for(reported, timeout=90, what="plugin_install_failed")
    assert event["agent"] == "alice" and event["spec"] == "nothere@no-such-market"
    wait_for(lambda: row(hive, "alice")["turn_state"] == "idle", timeout=30,
             what="alice to carry on")


def test_no_credentials_means_needs_login_until_they_appear(stub):
    h = start_hive(stub)
    env = dict(h.env)
    env.pop("ANTHROPIC_API_KEY")
    h.stop()
    h = HostProcess(claude_bin=find_claude(), env=env).start()
    try:
        wait_for(lambda: row(h, "manager")["needs_login"], timeout=30, what="needs_login")
        assert page(h, "manager", "/api/state")["status"] == "needs_login_idle"
        creds = h.root / "lib/agents/manager/claude/.credentials.json"
        creds.write_text(json.dumps({"claudeAiOauth": {"accessToken": "x"}}))
        wait_for(lambda: not row(h, "manager")["needs_login"], timeout=20, what="online")
        assert page(h, "manager", "/api/state")["status"] == "online"
    finally:
        h.stop()


def test_rate_limited_turn_parks_and_keeps_the_message(hive, stub):
    spawn(hive, "alice")
    stub.add_rule(r"busy hour", agent="alice", times=1, steps=[{"error": 429}])
    stub.add_rule(r"busy hour", agent="alice", steps=[
        {"tool": "mcp__hyperhive__send", "input": {"to": "operator", "body": "after the limit"}},
        {"text": "ok"}])
    hive.admin("send", to="alice", body="busy hour")
    wait_for(lambda: any(e["status"] == "rate_limited"
                         for _, e in events(hive, "alice", "status_changed")),
             timeout=60, what="the rate_limited status")
    wait_for(lambda: "after the limit" in inbox_bodies(hive), timeout=60, what="the retry")
    wait_for(lambda: len(stats_rows(hive, "alice")) >= 2, timeout=20, what="both turns")
    kinds = [r["result_kind"] for r in stats_rows(hive, "alice")]
    assert kinds[:2] == ["rate_limited", "ok"]


def test_the_journal_tells_an_agents_story(stub, journald):
    h = start_hive(stub, HYPERHIVE_LOG="journal")
    try:
        spawn(h, "alice")
        h.admin("send", to="alice", body="tell the journal")
        wait_for(lambda: stats_rows(h, "alice"), timeout=60, what="a turn")
        ends = entries("HIVE_AGENT=alice", "HIVE_EVENT=turn_end", want=1, timeout=10)
        assert ends and ends[-1]["HIVE_OUTCOME"] == "ok"
        assert int(ends[-1]["HIVE_DURATION_MS"]) > 0
        starts = entries("HIVE_AGENT=alice", "HIVE_EVENT=turn_start", want=1)
        assert starts and starts[-1]["HIVE_ROLE"] == "agent"
        spawned = entries("HIVE_AGENT=alice", "HIVE_ROLE=host", want=1)
        assert spawned, "the host's lines about alice carry HIVE_AGENT too"
    finally:
        h.stop()


def test_oversized_notes_are_compacted_between_turns_in_a_fresh_session(stub):
    h = start_hive(stub, HYPERHIVE_NOTES_LIMIT="16384")
    try:
        spawn(h, "alice")
        state = h.root / "lib/agents/alice/state"
        notes_md = state / "notes.md"
        old = "".join(f"- {i:04d} the deploy key is in the vault, as it was yesterday too.\n"
                      for i in range(480))
        assert len(old) == 30 * 1024
        notes_md.write_text(old)
        short = "- the deploy key is in the vault\n"
        stub.add_rule(r"Rewrite .*notes\.md in place", agent="alice", times=1, steps=[
            {"tool": "Read", "input": {"file_path": str(notes_md)}},
            {"tool": "Write", "input": {"file_path": str(notes_md), "content": short}},
            {"text": "rewritten"}])
        stub.add_rule(r"Rewrite .*notes\.md in place", agent="alice",
                      steps=[{"text": "I left it as it was."}])
        h.admin("send", to="alice", body="an ordinary message")

        def ended():
            return [e["text"] for _, e in events(h, "alice", "note")
                    if e["text"].startswith("notes compact")]
        wait_for(ended, timeout=90, what="the notes compaction to end")
        assert ended() == [f"notes compacted: 30 KB → {len(short)} bytes"]
        assert notes_md.read_text() == short
        assert (state / "notes.md.bak").read_text() == old
        kinds = [(k, e.get("text")) for k, e in events(h, "alice")]
        assert kinds.index(("turn_end", None)) < kinds.index(
            ("note", "notes.md is 30 KB, over 16 KB: compacting it"))
        states = [e["state"] for _, e in events(h, "alice", "turn_state_changed")]
        assert states[-4:] == ["thinking", "idle", "compacting", "idle"]
        wait_for(lambda: row(h, "alice")["turn_state"] == "idle", timeout=10, what="idle")
        # One turn_stats row, the message's: the compaction is no turn.
        [stat] = stats_rows(h, "alice")
        assert stat["result_kind"] == "ok" and stat["wake_from"] == "operator"
        session = state.parent / "harness" / "hyperhive-session"
        assert session.read_text().strip() == stat["session_id"]
        asks = [r for r in stub.requests if r["kind"] == "prompt" and not r["has_tool_result"]
                and "Rewrite" in r["last_user_text"]]
        assert len(asks) == 1 and str(notes_md) in asks[0]["last_user_text"]
        assert asks[0]["headers"]["X-Claude-Code-Session-Id"] != stat["session_id"]
        assert "Bash" not in asks[0]["tool_names"] and asks[0]["deferred_tool_names"] == []
        assert "notes compacted: 30 KB" in h.log_path.read_text()
        assert h.agent("alice", "requeue")["requeued"] == 0
        # A rewrite that leaves it too big is not tried again until the file grows.
        regrown = old.replace("vault", "safe!")
        notes_md.write_text(regrown)
        h.admin("send", to="alice", body="a second message")
        wait_for(lambda: len(ended()) == 2, timeout=60, what="the second compaction")
        assert ended()[1] == "notes compaction failed: notes.md is still 30 KB, over 16 KB"
        assert (state / "notes.md.bak").read_text() == regrown
        h.admin("send", to="alice", body="a third message")
        wait_for(lambda: len(stats_rows(h, "alice")) == 3, timeout=60, what="the third turn")
        time.sleep(1)
        starts = [e["text"] for _, e in events(h, "alice", "note")
                  if e["text"].endswith(": compacting it")]
        assert len(starts) == 2 and row(h, "alice")["turn_state"] == "idle"
    finally:
        h.stop()
