"""Retention on real sqlite files: old rows that are done with go, a batch at a time;
nothing live ever does."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hive import HostProcess, clean_env, short_tmpdir, wait_for
from hyperhive import retention, settings
from hyperhive.broker import Broker
from hyperhive.events import EventLog
from hyperhive.paths import Places
from hyperhive.store import Store
from hyperhive.turnstats import TurnStats

DAY = 86400
NOW = time.time()
OLD = NOW - 100 * DAY          # past the default 90 days
RECENT = NOW - 10 * DAY
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def broker(tmp_path):
    places = Places.from_root(tmp_path)
    places.ensure()
    store = Store(places.db)
    broker = Broker(store, places)
    yield broker
    broker.stop()
    store.close()


def add_message(store, sent_at, delivered=False, acked=False, to="alice"):
    with store.atomic():
        msg_id = store.add_message("operator", to, "hi", sent_at)
        store.db.execute_sql("UPDATE messages SET delivered_at = ?, acked_at = ? WHERE id = ?",
                             (sent_at + 1 if delivered or acked else None,
                              sent_at + 2 if acked else None, msg_id))
    return msg_id


def message_ids(store):
    return [r[0] for r in store.db.execute_sql("SELECT id FROM messages ORDER BY id")]


def test_retention_deletes_exactly_the_old_acknowledged_messages(broker):
    store = broker.store
    old_acked = [add_message(store, OLD, acked=True) for _ in range(3)]
    old_taken = add_message(store, OLD, delivered=True)        # delivered, never acked
    old_waiting = add_message(store, OLD)                        # never delivered
    old_acked.append(add_message(store, OLD + 1, acked=True))
    recent_acked = add_message(store, RECENT, acked=True)
    recent_waiting = add_message(store, RECENT)

    done = broker.prune(now=NOW, pause=0)

    assert done["messages"] == 4
    assert message_ids(store) == [old_taken, old_waiting, recent_acked, recent_waiting]
    assert broker.prune(now=NOW, pause=0)["messages"] == 0


def test_the_operators_old_messages_go_though_nothing_acknowledges_them(broker):
    store = broker.store
    add_message(store, OLD, to="operator")
    recent = add_message(store, RECENT, to="operator")

    assert broker.prune(now=NOW, pause=0)["messages"] == 1
    assert message_ids(store) == [recent]


def test_retention_deletes_at_most_one_batch_per_transaction(broker):
    store = broker.store
    with store.atomic():
        for _ in range(1250):
            store.add_message("operator", "alice", "hi", OLD)
        store.db.execute_sql("UPDATE messages SET delivered_at = ?, acked_at = ?", (OLD, OLD))
    kept = add_message(store, RECENT, acked=True)

    done = broker.prune(now=NOW, batch=500, pause=0)

    assert done["messages"] == 1250 and message_ids(store) == [kept]
    # 500 + 500 + 250 and the new one: three transactions for the messages, one for each
    # of the other four tables (nothing to delete there).
    assert done["batches"] == 3 + 4


def test_retention_keeps_what_is_still_open(broker):
    store = broker.store
    with store.atomic():
        approvals = [store.add_approval("alice", "spawn", OLD) for _ in range(3)]
        store.set_approval(approvals[0], OLD, status="approved")
        store.set_approval(approvals[1], RECENT, status="denied")
        questions = [store.add_question("alice", "q?", [], False, OLD) for _ in range(3)]
        store.answer_question(questions[0], "yes", "operator", OLD)
        store.answer_question(questions[1], "no", "operator", RECENT)
        reminders = [store.add_reminder("alice", "r", OLD, OLD) for _ in range(2)]
        reminders.append(store.add_reminder("alice", "r", NOW + DAY, OLD))
        store.mark_reminder(reminders[0], None, OLD)
        store.mark_reminder(reminders[1], None, RECENT)

    done = broker.prune(now=NOW, pause=0)

    assert (done["approvals"], done["questions"], done["reminders"]) == (1, 1, 1)
    assert [a["id"] for a in store.approvals(status=None)] == approvals[1:]
    assert store.question(questions[0]) is None
    assert store.question(questions[1]) and store.question(questions[2])
    left = [r[0] for r in store.db.execute_sql("SELECT id FROM reminders ORDER BY id")]
    assert left == reminders[1:]


def test_a_retention_of_zero_days_keeps_everything(broker):
    broker.retention_days = 0
    add_message(broker.store, OLD, acked=True)
    assert broker.prune(now=NOW, pause=0)["messages"] == 0
    assert len(message_ids(broker.store)) == 1


def test_the_setting_comes_from_the_environment():
    def days(env):
        return settings.load(env).retention_days
    assert days({}) == retention.DEFAULT_DAYS == 90
    assert days({"HYPERHIVE_RETENTION_DAYS": "30"}) == 30
    assert days({"HYPERHIVE_RETENTION_DAYS": "0"}) == 0
    assert days({"HYPERHIVE_RETENTION_DAYS": "soon"}) == 90
    assert days({"HYPERHIVE_RETENTION_DAYS": "-1"}) == 90


def test_old_events_go_in_batches(tmp_path):
    events = EventLog(tmp_path / "events.sqlite")
    try:
        for n in range(1200):
            events.append("note", {"n": n}, OLD)
        events.append("note", {"n": "recent"}, RECENT)
        assert retention.drain(lambda: events.prune(NOW - 90 * DAY, 500), pause=0) == (1200, 3)
        assert [e["data"]["n"] for e in events.last()] == ["recent"]
    finally:
        events.db.close()


def turn(started_at):
    return dict(started_at=started_at, ended_at=started_at + 1, duration_ms=1000,
                result_kind="ok")


def test_old_turn_stats_go_but_the_thirty_day_chart_keeps_its_turns(tmp_path):
    stats = TurnStats(tmp_path / "stats.sqlite")
    try:
        for age in (100, 40, 29.5, 1):
            stats.record(**turn(NOW - age * DAY))
        # Asked for 7 days, the stats still keep what the 30-day window charts.
        assert retention.drain(lambda: stats.prune(NOW - 7 * DAY, 500, now=NOW),
                               pause=0) == (2, 1)
        assert stats.summary("30d", now=NOW)["turns"] == 2
        assert retention.drain(lambda: stats.prune(NOW - 7 * DAY, 500, now=NOW),
                               pause=0) == (0, 1)
    finally:
        stats.db.close()


def test_the_harness_prunes_its_events_and_turn_stats(tmp_path):
    """Harness.prune over the harness's real files, with the setting from its environment."""
    code = (
        "import json, sys, time\n"
        "from types import SimpleNamespace as NS\n"
        "from hyperhive import settings\n"
        "from hyperhive.harness import Harness\n"
        "h = Harness(NS(name='alice', manager=False, hive_dir=sys.argv[1], "
        "state_dir=sys.argv[2], web=None, harness_dir=None, claude_ids=None), "
        "settings.load())\n"
        "now = time.time()\n"
        "for age in (50, 20, 1):\n"
        "    h.bus.log.append('note', {'age': age}, now - age * 86400)\n"
        "    h.stats.record(started_at=now - age * 86400, ended_at=now, duration_ms=1, "
        "result_kind='ok')\n"
        "done = h.prune(pause=0)\n"
        "print(json.dumps({'done': done, 'events': [e['data']['age'] for e in h.bus.history()], "
        "'turns': h.stats.summary('30d')['turns']}))\n")
    env = {"HYPERHIVE_RETENTION_DAYS": "10", "HYPERHIVE_AGENT_CONFIG": str(tmp_path / "none"),
           "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"), "PYTHONPATH": str(REPO),
           "PATH": "/usr/bin:/bin", "HYPERHIVE_LOG": "stderr"}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "hive"),
                           str(tmp_path / "alice" / "state")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["events"] == [1]                   # 10 days: the 50- and 20-day-old go
    assert got["turns"] == 2                      # turn stats keep 31 days: only 50 goes
    assert got["done"] == {"events": 2, "turn stats": 1, "batches": 2}


def test_a_host_prunes_at_start_with_the_setting_from_its_environment():
    root = short_tmpdir()
    places = Places.from_root(root)
    places.ensure()
    store = Store(places.db)
    old = add_message(store, NOW - 20 * DAY, acked=True)
    kept = add_message(store, NOW - 5 * DAY, acked=True)
    store.close()
    h = HostProcess(root=root, env=clean_env(HYPERHIVE_RETENTION_DAYS=10))
    try:
        h.start()

        def ids():
            reader = Store(places.db)
            try:
                return message_ids(reader)
            finally:
                reader.close()
        wait_for(lambda: old not in ids(), 10, what="the old message to go")
        assert kept in ids()
        assert "retention: deleted from the hive's database 1 messages" in h.log()
    finally:
        h.stop()
        shutil.rmtree(root, ignore_errors=True)
