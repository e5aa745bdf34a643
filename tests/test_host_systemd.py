"""The host as systemd sees it: journald records, sd_notify, a clean SIGTERM."""

import json
import socket
import sqlite3
import time

from hive import HostProcess, clean_env, short_tmpdir, wait_for
from journald import entries


def test_host_logs_to_journald_by_field(journald):
    env = clean_env()
    env.pop("HYPERHIVE_LOG")
    h = HostProcess(env=env).start()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        pid = h.proc.pid
        host_records = entries("HIVE_ROLE=host", f"_PID={pid}", want=2)
        assert host_records and all(r["SYSLOG_IDENTIFIER"] == "hyperhive" for r in host_records)
        assert any("host ready" in r["MESSAGE"] for r in host_records)
        alice = entries("HIVE_ROLE=host", "HIVE_AGENT=alice", f"_PID={pid}")
        assert alice and "PRIORITY" in alice[0]
    finally:
        h.stop()
    assert "Traceback" not in h.log()


def test_without_journald_the_host_logs_to_stderr():
    h = HostProcess().start()        # clean_env forces HYPERHIVE_LOG=stderr
    try:
        assert h.admin("spawn", name="alice")["ok"]
    finally:
        assert h.stop() == 0
    log = h.log()
    assert "host ready" in log and "host/alice" in log and "Logging error" not in log


def test_sd_notify_ready_watchdog_stopping():
    tmp = short_tmpdir()
    path = str(tmp / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    h = HostProcess(env=clean_env(NOTIFY_SOCKET=path, WATCHDOG_USEC=200000))
    got = []

    def read_all(seconds=0.3):
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            try:
                got.append(sock.recv(4096).decode())
            except socket.timeout:
                return
    try:
        h.start()
        wait_for(lambda: read_all() or any("READY=1" in g for g in got), timeout=10,
                 what="READY=1")
        time.sleep(0.5)
        read_all()
        assert sum("WATCHDOG=1" in g for g in got) >= 2
        assert any("STATUS=" in g for g in got)
        assert h.stop() == 0
        read_all()
        assert any("STOPPING=1" in g for g in got)
    finally:
        h.stop()
        sock.close()


def statuses(events_db):
    try:
        with sqlite3.connect(events_db) as db:
            rows = db.execute("select payload from events where kind = 'status_changed' "
                              "order by id").fetchall()
    except sqlite3.Error:
        return []
    return [json.loads(p)["status"] for (p,) in rows]


def test_sigterm_stops_agents_and_exits_0():
    h = HostProcess().start()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        assert h.admin("send", to="alice", body="kept across the stop")["ok"]
        events = [h.root / f"lib/agents/{name}/harness/hyperhive-events.sqlite"
                  for name in ("manager", "alice")]
        for db in events:
            wait_for(lambda: "needs_login_idle" in statuses(db), what="waiting for a login")
        assert h.stop() == 0
        # a harness stopped while it waits for a login goes offline, never online
        for db in events:
            assert statuses(db)[-2:] == ["needs_login_idle", "offline"], db
        h.start()
        got = h.agent("alice", "recv")["messages"]
        assert [m["body"] for m in got] == ["kept across the stop"]
    finally:
        h.stop()
