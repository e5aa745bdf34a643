"""PostgreSQL under gevent, the way the host runs: `python tests/pggreen.py SCENARIO DSN`
monkey-patches the process, installs psycogreen's wait callback, plays one scenario
and prints what it saw as one JSON line.

A separate process because monkey patching is for a whole process and cannot be
undone; the test process stays unpatched.

  listen  a greenlet parks on a LISTEN connection's socket (no timeout, no loop) until
          another connection sends NOTIFY; a ticker greenlet counts 10 ms ticks meanwhile
  query   one greenlet runs pg_sleep(0.5) while another keeps running SELECT 1 on a
          second connection
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import gevent.socket  # noqa: E402
import psycogreen.gevent  # noqa: E402
import psycopg2  # noqa: E402

psycogreen.gevent.patch_psycopg()

TICK = 0.01


def connect(dsn):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


def run(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def ticker(ticks):
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(TICK)


def ticks_between(ticks, start, end):
    return sum(1 for t in ticks if start <= t <= end)


def listen(dsn):
    listener, sender = connect(dsn), connect(dsn)
    run(listener, "LISTEN wake")
    got = {"wakeups": 0}

    def wait_for_notify():
        got["parked_at"] = time.monotonic()
        while not listener.notifies:
            # Parked on the socket in the hub: no timeout, so each pass is a real wakeup.
            gevent.socket.wait_read(listener.fileno())
            got["wakeups"] += 1
            listener.poll()
        got["woke_at"] = time.monotonic()
        got["payload"] = listener.notifies.pop(0).payload

    ticks = []
    tick = gevent.spawn(ticker, ticks)
    waiter = gevent.spawn(wait_for_notify)
    gevent.sleep(0.3)
    sent_at = time.monotonic()
    run(sender, "SELECT pg_notify('wake', %s)", "hello")
    waiter.join(timeout=5)
    tick.kill()
    return {"payload": got.get("payload"), "wakeups": got["wakeups"],
            "wake_ms": (got["woke_at"] - sent_at) * 1000 if "woke_at" in got else None,
            "ticks_while_parked": ticks_between(ticks, got["parked_at"], sent_at),
            "parked_s": sent_at - got["parked_at"]}


def query(dsn):
    sleeper, worker = connect(dsn), connect(dsn)
    span = {}

    def sleep_in_postgres():
        span["start"] = time.monotonic()
        run(sleeper, "SELECT pg_sleep(0.5)")
        span["end"] = time.monotonic()

    done = []

    def keep_querying():
        while True:
            run(worker, "SELECT 1")
            done.append(time.monotonic())
            gevent.sleep(0)

    ticks = []
    tick = gevent.spawn(ticker, ticks)
    busy = gevent.spawn(keep_querying)
    gevent.spawn(sleep_in_postgres).join(timeout=5)
    busy.kill()
    tick.kill()
    return {"sleep_s": span["end"] - span["start"],
            "queries_meanwhile": ticks_between(done, span["start"], span["end"]),
            "ticks_meanwhile": ticks_between(ticks, span["start"], span["end"])}


if __name__ == "__main__":
    scenario, dsn = sys.argv[1], sys.argv[2]
    print(json.dumps({"listen": listen, "query": query}[scenario](dsn)))
