"""A host killed with SIGKILL loses no acknowledged message: on sqlite, and on
PostgreSQL."""

import threading
import time

import pytest

from brokers import BROKERS
from hive import HostProcess, broker_args, request, wait_for


@pytest.fixture(params=BROKERS)
def store_args(request):
    return broker_args(request)


def test_sigkilled_host_loses_no_acknowledged_send(store_args):
    h = HostProcess(args=store_args).start()
    acknowledged = []          # numbers whose `send` got an ok reply
    received = []              # (number, redelivered) in delivery order
    stop = threading.Event()

    def writer():
        n = 0
        while not stop.is_set():
            n += 1      # every attempt its own number, so a repeat can only be a redelivery
            try:
                reply = request(h.sock, {"cmd": "send", "to": "alice", "body": f"n={n}"},
                                timeout=5)
            except (OSError, ValueError):
                time.sleep(0.02)     # the host is down: this send was never acknowledged
                continue
            if reply.get("ok"):
                acknowledged.append(n)

    def reader():
        while not stop.is_set():
            try:
                got = request(h.agent_sock("alice"), {"cmd": "recv", "wait_seconds": 1,
                                                      "max": 32}, timeout=5)
                msgs = got.get("messages", [])
                for m in msgs:
                    if m["from"] != "system":    # the host's own news: a restart
                        received.append((int(m["body"][2:]), m["redelivered"]))
                if msgs:
                    request(h.agent_sock("alice"),
                            {"cmd": "ack", "ids": [m["id"] for m in msgs]}, timeout=5)
            except (OSError, ValueError):
                time.sleep(0.02)

    try:
        assert h.admin("spawn", name="alice")["ok"]
        threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
        for t in threads:
            t.start()
        for _ in range(3):
            time.sleep(1.0)
            h.kill()
            h.start()
            # A restarted harness puts back whatever it had taken but not acked.
            assert request(h.agent_sock("alice"), {"cmd": "requeue"})["ok"]
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(15)

        def drained():
            got = request(h.agent_sock("alice"), {"cmd": "recv", "max": 32})["messages"]
            received.extend((int(m["body"][2:]), m["redelivered"]) for m in got
                            if m["from"] != "system")
            return not got
        wait_for(drained, timeout=20, what="alice's inbox to drain")
    finally:
        stop.set()
        h.stop()

    assert len(acknowledged) > 100, "the writer barely ran"
    seen = {}
    for number, redelivered in received:
        if number in seen:
            assert redelivered, f"message n={number} came twice without the redelivered flag"
        seen[number] = True
    missing = sorted(set(acknowledged) - set(seen))
    assert not missing, f"{len(missing)} acknowledged messages were lost, e.g. {missing[:5]}"
