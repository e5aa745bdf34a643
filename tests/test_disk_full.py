"""A full disk is a state the hive is in: writes answer `unavailable`, the dashboard says
why, the log says it once, and everything goes on once space is freed."""

import errno
import json
import logging
import os
import re
import shutil
import subprocess
import time

import pytest

from hive import HostProcess, free_port, request, short_tmpdir, wait_for
from hyperhive import disk
from hyperhive.errors import DISK_FULL
from hyperhive.events import Bus
from hyperhive.turnstats import TurnStats
from test_dashboard import Dash

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def small_disk():
    """A 4 MB tmpfs, unmounted afterwards."""
    mount = short_tmpdir("hhdisk")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mount)],
                   check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)
    shutil.rmtree(mount, ignore_errors=True)


def fill(mount):
    """Write a filler file until the disk says it is full; its path."""
    filler = mount / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def host_lines(h, words):
    """The host's own log lines that say `words` (not its agents', whose lines and
    tracebacks interleave with the host's in the one file)."""
    # "DATE TIME LEVEL WHO logger: text": WHO is host, or host/<agent> for its part in one
    return [line for line in h.log_path.read_text(errors="replace").splitlines()
            if re.match(r"\d{4}-\d\d-\d\d \S+ [A-Z]+ host(/\S+)? ", line) and words in line]


def test_a_full_disk_answers_unavailable_and_the_hive_goes_on_once_space_is_freed(small_disk):
    logs = short_tmpdir("hhlog")
    h = HostProcess(root=small_disk, dashboard_port=free_port())
    h.log_path = logs / "host.log"       # the log must not share the full disk
    try:
        h.start()
        dash = Dash(h.dashboard_port, h.login())
        assert h.admin("spawn", name="alice")["ok"]
        acknowledged = []

        def send(body):
            reply = h.admin("send", to="alice", body=body)
            if reply["ok"]:
                acknowledged.append(body)
            return reply
        for n in range(5):
            assert send(f"before {n}")["ok"]
        assert dash.state()["disk"]["full"] is False
        assert 'id="disk-full" hidden' in dash.get("/")[2]
        # What an open dashboard hears, live: the same stream as its SSE.
        watch = subprocess.Popen([*h.command, "ctl", "--root", str(h.root), "subscribe",
                                  "--kinds", "disk_changed"], stdout=subprocess.PIPE, text=True)
        assert json.loads(watch.stdout.readline())["subscribed"] is True

        filler = fill(small_disk)
        refused = [send(f"while full {n}") for n in range(5)]
        refused.append(h.agent("alice", "send", to="operator", body="from alice"))
        refused.append(h.agent("alice", "recv", max=32))     # taking needs a write
        for reply in refused:
            assert reply["ok"] is False and reply["code"] == "unavailable", reply
            assert reply["error"] == DISK_FULL
        status, reply = dash.post("/send", {"to": "alice", "body": "from the page"},
                                  as_json=True)
        assert status == 503 and reply["error"] == DISK_FULL
        # Reads that need no write still answer.
        assert h.admin("status")["ok"] and h.admin("inbox")["ok"]
        assert h.agent("alice", "status")["unread"] == 5
        state = dash.state()
        assert state["disk"]["full"] is True and state["disk"]["since"]
        page = dash.get("/")[2]
        assert '<p class="banner warn" id="disk-full">' in page
        assert len(host_lines(h, "disk is full")) == 1
        # not the server's "'send' failed" and a traceback for each refused request
        assert not host_lines(h, "failed"), open(h.log_path).read()

        filler.unlink()
        for n in range(5):
            assert send(f"after {n}")["ok"]
        wait_for(lambda: dash.state()["disk"]["full"] is False, 10, what="the banner to go")
        assert 'id="disk-full" hidden' in dash.get("/")[2]
        assert len(host_lines(h, "has room again")) == 1
        assert len(host_lines(h, "disk is full")) == 1
        watch.terminate()
        heard = [json.loads(line) for line in watch.communicate(timeout=10)[0].splitlines()]
        changes = [e["data"]["full"] for e in heard if e.get("kind") == "disk_changed"]
        assert changes == [True, False], heard

        got = request(h.agent_sock("alice"), {"cmd": "recv", "max": 32})["messages"]
        assert sorted(m["body"] for m in got) == sorted(acknowledged)
        assert h.agent("alice", "ack", ids=[m["id"] for m in got])["acked"] == 10
    finally:
        h.stop()
        shutil.rmtree(logs, ignore_errors=True)


def test_a_full_disk_is_logged_once_by_the_harness_and_events_go_on_live(small_disk, caplog):
    caplog.set_level(logging.INFO)
    state = disk.DiskState("the harness dir's disk", small_disk)
    bus = Bus(small_disk / "events.sqlite", disk=state)
    stats = TurnStats(small_disk / "stats.sqlite", disk=state)
    turn = dict(started_at=time.time(), ended_at=time.time(), duration_ms=5,
                result_kind="ok")
    try:
        with bus.fanout.subscribe() as live:
            assert bus.emit("note", text="before")["seq"] == 1
            filler = fill(small_disk)
            # Big enough that sqlite needs new pages for them.
            for n in range(20):
                bus.emit("note", text="x" * 8000)
            assert stats.record(**turn, note="y" * 8000) is None
            assert state.full
            assert len([e for e in iter(lambda: live.get(timeout=0), None)]) == 21
        full = [r for r in caplog.records if "is full" in r.getMessage()]
        assert len(full) == 1 and full[0].levelno == logging.ERROR and not full[0].exc_info
        assert not [r for r in caplog.records if r.exc_info]

        filler.unlink()
        assert stats.record(**turn) is not None
        after = bus.emit("note", text="after")
        assert bus.log.after(after["seq"] - 1)[-1]["data"] == {"text": "after"}
        assert not state.full
        assert len([r for r in caplog.records if "has room again" in r.getMessage()]) == 1
    finally:
        bus.log.db.close()
        stats.db.close()


def test_a_harness_opens_its_files_on_a_full_disk_and_keeps_going(small_disk, caplog):
    state = disk.DiskState("the harness dir's disk", small_disk)
    filler = fill(small_disk)
    bus = Bus(small_disk / "events.sqlite", disk=state)
    stats = TurnStats(small_disk / "stats.sqlite", disk=state)
    try:
        assert bus.log is None and bus.emit("note", text="live only")["seq"] == 1
        now = time.time()
        assert stats.record(started_at=now, ended_at=now, duration_ms=5, result_kind="ok")
        assert stats.summary("1h")["turns"] == 1
        assert not [r for r in caplog.records if r.exc_info]
    finally:
        filler.unlink()
        stats.db.close()


def test_a_full_disk_nobody_writes_to_clears_once_space_is_freed(small_disk, caplog):
    now = [1000.0]
    state = disk.DiskState("the test disk", small_disk, clock=lambda: now[0])
    filler = fill(small_disk)
    assert state.failed(OSError(errno.ENOSPC, "No space left on device"))
    assert not state.failed(OSError(errno.EACCES, "Permission denied"))
    filler.unlink()
    assert state.full                    # looked at again only after RECHECK_SECONDS
    now[0] += disk.RECHECK_SECONDS
    assert not state.full
    assert [r.levelno for r in caplog.records if r.name == "hyperhive.disk"] == [
        logging.ERROR, logging.WARNING]
