"""Where one send -> parked recv round trip spends the host's time, piece by piece.

Each piece of the host's path is timed on its own, in this process, with the real
objects (the wire codec, the verb table, a Store on a sqlite file in /tmp with the
host's pragmas, gevent events, a unix socket pair), over many repetitions: CPU time
(process_time) and, for the commit, wall time too, since its fsync waits on the disk.
Then the whole round trip in process (a Broker: send to a receiver parked in recv),
which adds what the pieces leave out: the broker's own Python, the group writer, the
events. latency.py gives the same round trip through the host's sockets.

Run: .venv/bin/python bench/breakdown.py [--n 3000]
"""

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import benchlib as B

sys.path.insert(0, str(B.REPO))

import gevent
from gevent.event import Event

from hyperhive import verbs, wire
from hyperhive.broker import Broker
from hyperhive.paths import Places
from hyperhive.store import Store

SEND = b'{"cmd":"send","to":"alice","body":"m123"}'
RECV = b'{"cmd":"recv","wait_seconds":30,"max":1}'
SEND_REPLY = {"ok": True, "v": 1, "id": 123}
RECV_REPLY = {"ok": True, "v": 1, "unread": 0, "messages": [
    {"id": 123, "from": "operator", "body": "m123", "sent_at": 1765000000.123,
     "in_reply_to": None, "redelivered": False}]}


def timed(fn, n):
    """(CPU µs, wall µs) per call of fn, over n calls."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        fn()
    return ((time.process_time() - cpu0) / n * 1e6, (time.perf_counter() - wall0) / n * 1e6)


def pieces(store, n):
    """Each piece of the round trip, with how many times one round trip runs it."""
    conn = store._conn
    send_verb, recv_verb = verbs.BY_CMD["send"], verbs.BY_CMD["recv"]
    send_req, recv_req = wire.decode_request(SEND), wire.decode_request(RECV)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    line = wire.encode(RECV_REPLY)

    def socket_io():
        a.send(line)
        b.recv(65536)

    def statements():
        conn.execute("BEGIN")
        store.add_message("operator", "alice", "m123", time.time(), delivered_at=time.time())
        store.add_event("sent", {"id": 1, "sender": "operator", "to": "alice", "body": "m123",
                                 "in_reply_to": None}, time.time())
        store.add_event("delivered", {"id": 1, "to": "alice", "sender": "operator"},
                        time.time())
        conn.execute("ROLLBACK")

    def commit():
        with store.atomic(durable=True):
            store.add_message("operator", "alice", "m123", time.time(), delivered_at=time.time())

    ping, pong = Event(), Event()

    def partner():
        while True:
            ping.wait()
            ping.clear()
            pong.set()
    other = gevent.spawn(partner)
    gevent.sleep(0)

    def switch_pair():
        ping.set()
        pong.wait()
        pong.clear()

    rows = [
        ("parse the two request lines (orjson)", 1,
         timed(lambda: (wire.decode_request(SEND), wire.decode_request(RECV)), n)),
        ("check their fields (the verb table)", 1,
         timed(lambda: (send_verb.check(send_req), recv_verb.check(recv_req)), n)),
        ("encode the two replies (orjson)", 1,
         timed(lambda: (wire.encode(SEND_REPLY), wire.encode(RECV_REPLY)), n)),
        ("statements: insert the message and two events", 1, timed(statements, n)),
        ("unread count for the reply", 1, timed(lambda: store.unread_count("alice"), n)),
        ("a durable commit of one message (fsync)", 1, timed(commit, max(n // 3, 300))),
        ("a socket write and read (unix, 1 reply line)", 4, timed(socket_io, n)),
        ("a greenlet wake-up and back (two switches)", 2, timed(switch_pair, n)),
    ]
    other.kill()
    a.close()
    b.close()
    return rows


def whole(broker, n):
    """send -> a receiver parked in recv, in process."""
    def once():
        receiver = gevent.spawn(broker.messages.recv, "alice", wait_seconds=30)
        gevent.sleep(0)
        broker.messages.send("operator", "alice", "m")
        receiver.get()
    return timed(once, n)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    args = ap.parse_args(argv)
    B.print_machine()
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        places = Places.from_root(Path(tmp))
        places.ensure()
        store = Store(places.db)
        broker = Broker(store, places)
        broker.agents.register("alice")
        whole(broker, 200)
        rows = pieces(store, args.n)
        total_cpu, total_wall = whole(broker, args.n)
        broker.stop()
        store.close()

    print(f"\none send -> parked recv round trip, piece by piece (µs; {args.n} runs each; "
          f"pid {os.getpid()})")
    print(f"{'piece':48} {'times':>5} {'CPU':>8} {'wall':>8} {'CPU per trip':>13}")
    summed = 0.0
    for name, times, (cpu, wall) in rows:
        summed += cpu * times
        print(f"{name:48} {times:>5} {cpu:8.1f} {wall:8.1f} {cpu * times:13.1f}")
    print(f"{'sum of the pieces':48} {'':>5} {'':>8} {'':>8} {summed:13.1f}")
    print(f"{'the whole round trip in process (no sockets)':48} {1:>5} {total_cpu:8.1f} "
          f"{total_wall:8.1f} {total_cpu:13.1f}")
    print("(the socket and parse pieces are not in the in-process round trip; "
          "latency.py measures it through the host's sockets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
