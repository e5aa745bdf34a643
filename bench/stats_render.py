"""Page render time for an agent with 10,000 turns of statistics.

A real host runs agent alice (process backend, no credentials needed: the page
is served while the harness waits for a login). Before alice starts, this
script fills her turn-stats file with TURNS rows spread over the last 30 days,
then times GET /stats, GET /api/stats for every window, and GET / on her page,
each REPEAT times over fresh connections, and prints p50/p95/max in ms.
"""

import json
import os
import random
import sqlite3
import statistics
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from hive import HostProcess, wait_for

TURNS = int(os.environ.get("TURNS", 10_000))
REPEAT = int(os.environ.get("REPEAT", 20))
TOOLS = ["Read", "Bash", "Edit", "mcp__hyperhive__send", "mcp__hyperhive__recv", "Grep"]
SENDS = ["peer", "operator", "manager", "broadcast"]


def fill(path, turns):
    from hyperhive.turnstats import TurnStats
    TurnStats(path).db.close()        # the schema, exactly as the harness makes it
    now = time.time()
    rows = []
    for i in range(turns):
        started = now - 30 * 86400 * (1 - i / turns)
        duration = random.randint(800, 60_000)
        tools = {t: random.randint(0, 4) for t in random.sample(TOOLS, 3)}
        sends = {k: random.randint(0, 2) for k in random.sample(SENDS, 2)}
        rows.append((started, started + duration / 1000, duration, "haiku", "operator",
                     random.choice(["ok"] * 9 + ["failed"]), None,
                     random.randint(100, 5000), random.randint(10, 900),
                     random.randint(0, 90_000), random.randint(0, 5000),
                     round(random.random() / 50, 6), sum(tools.values()), json.dumps(tools),
                     0, 0, "s1", None, random.randint(0, 6), json.dumps(sends),
                     1000 + 3 * i))
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO turn_stats (started_at, ended_at, duration_ms, model, wake_from, "
            "result_kind, note, input_tokens, output_tokens, cache_read_input_tokens, "
            "cache_creation_input_tokens, cost_usd, tool_call_count, tool_calls_json, "
            "open_threads_count, open_reminders_count, session_id, session_cost_usd, "
            "inbox_depth, sends_json, notes_bytes) VALUES (" + ",".join("?" * 21) + ")", rows)


def timed(url, cookie):
    started = time.perf_counter()
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=60) as resp:
        body = resp.read()
    return (time.perf_counter() - started) * 1000, len(body)


def main():
    h = HostProcess()
    h.start()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        assert h.admin("stop", name="alice")["ok"]
        fill(h.root / "lib/agents/alice/harness/hyperhive-turn-stats.sqlite", TURNS)
        assert h.admin("start", name="alice")["ok"]
        port = next(r["port"] for r in h.admin("status")["agent_statuses"]
                    if r["name"] == "alice")
        base = f"http://127.0.0.1:{port}"

        def up():
            try:
                return timed(base + "/api/state", h.cookie)
            except OSError:
                return None
        wait_for(up, timeout=30, what="alice's page")
        print(f"alice has {TURNS} turns of stats over 30 days; {REPEAT} requests each")
        worst = 0.0
        for path in ["/stats", "/stats?window=30d", "/"] + [
                f"/api/stats?window={w}" for w in ("1h", "4h", "24h", "7d", "30d")]:
            timed(base + path, h.cookie)            # warm
            times, size = zip(*(timed(base + path, h.cookie) for _ in range(REPEAT)))
            times = sorted(times)
            p95 = times[max(0, int(len(times) * 0.95) - 1)]
            worst = max(worst, statistics.median(times))
            print(f"  GET {path:<24} p50 {statistics.median(times):7.1f} ms  "
                  f"p95 {p95:7.1f} ms  max {times[-1]:7.1f} ms  ({size[0]} bytes)")
        print(f"slowest p50: {worst:.1f} ms")
    finally:
        h.stop()


if __name__ == "__main__":
    main()
