"""A durable one-row commit: PostgreSQL beside sqlite, same run, same disk.

Each writer has its own connection and, in a loop for `--seconds`, inserts one message
row and commits it; the time from the INSERT to the commit's return is one sample.

- PostgreSQL: the tests' throwaway cluster (tests/pgcluster.py: its own /tmp dir, unix
  socket, fsync on, synchronous_commit on) through psycopg2, the host's driver.
- sqlite: a file in WAL mode with synchronous=FULL, the host's setting for a durable
  write (hyperhive/store.py); BEGIN IMMEDIATE, so writers wait for the lock instead of
  failing, with a busy timeout as the host's.

Writers are OS threads (both drivers release the GIL while they wait), at 1 and 32 at
once; rounds alternate between the two databases so load on the machine hits both
alike. Both files live on the same filesystem (/tmp). Prints p50 / p99 in ms and
commits/s per database and level. Run:
.venv/bin/python bench/pg_commit.py [--seconds 5] [--levels 1,32] [--rounds 2]
"""

import argparse
import shutil
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import psycopg2

import benchlib as B
from pgcluster import PgCluster

BODY = "x" * 200
SCHEMA = ("CREATE TABLE messages (id {key}, sender TEXT NOT NULL, recipient TEXT NOT NULL,"
          " body TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)")


class Postgres:
    name = "PostgreSQL (fsync on)"

    def __init__(self, cluster):
        self.cluster = cluster
        self.db = cluster.create_database("bench")
        conn = self.connect()
        with conn.cursor() as cur:
            cur.execute(SCHEMA.format(key="BIGSERIAL PRIMARY KEY"))
        conn.commit()
        conn.close()

    def connect(self):
        return psycopg2.connect(self.cluster.dsn(self.db))

    @staticmethod
    def commit_one(conn, i):
        with conn.cursor() as cur:
            cur.execute("INSERT INTO messages (sender, recipient, body, created_at)"
                        " VALUES (%s, %s, %s, %s)", ("alice", "bob", BODY, time.time()))
        conn.commit()


class Sqlite:
    name = "sqlite (WAL, synchronous=FULL)"

    def __init__(self, directory):
        self.path = Path(directory) / "bench.sqlite"
        conn = self.connect()
        conn.execute(SCHEMA.format(key="INTEGER PRIMARY KEY"))
        conn.close()

    def connect(self):
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = wal")
        conn.execute("PRAGMA synchronous = 2")
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    @staticmethod
    def commit_one(conn, i):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO messages (sender, recipient, body, created_at)"
                     " VALUES (?, ?, ?, ?)", ("alice", "bob", BODY, time.time()))
        conn.execute("COMMIT")


def run_level(db, writers, seconds):
    """(commit latencies in seconds, commits per second) with `writers` at once."""
    conns = [db.connect() for _ in range(writers)]
    samples = [[] for _ in range(writers)]
    start = threading.Barrier(writers + 1)
    stop_at = [0.0]

    def write(k):
        conn, out = conns[k], samples[k]
        start.wait()
        i = 0
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at[0]:
                return
            db.commit_one(conn, i)
            out.append(time.perf_counter() - t0)
            i += 1

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    for conn in conns:
        conn.close()
    everything = [s for out in samples for s in out]
    return everything, len(everything) / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--levels", default="1,32")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    B.print_machine()

    started = time.perf_counter()
    cluster = PgCluster().start()
    print(f"cluster started in {time.perf_counter() - started:.2f} s: {cluster.dir}")
    workdir = Path(tempfile.mkdtemp(prefix="hhpgbench", dir="/tmp"))
    try:
        dbs = [Sqlite(workdir), Postgres(cluster)]
        results = {}
        for level in levels:
            for rnd in range(args.rounds):
                order = dbs if rnd % 2 == 0 else dbs[::-1]
                for db in order:
                    load = B.LoadMeter()
                    lat, rate = run_level(db, level, args.seconds)
                    s = B.summary_ms(lat)
                    results.setdefault((db.name, level), []).append((s, rate))
                    print(f"round {rnd + 1} {db.name:32} {level:3} writers: "
                          f"p50 {s['p50']:.3f} ms  p99 {s['p99']:.3f} ms  "
                          f"mean {s['mean']:.3f} ms  max {s['max']:.0f} ms  "
                          f"{rate:,.0f} commits/s  (machine {load.busy_pct():.0f}% busy)")
        print()
        print("| writers | database | p50 ms | p99 ms | mean ms | commits/s |")
        print("|---|---|---|---|---|---|")
        for level in levels:
            for db in dbs:
                runs = results[(db.name, level)]
                p50 = " / ".join(f"{s['p50']:.3f}" for s, _ in runs)
                p99 = " / ".join(f"{s['p99']:.3f}" for s, _ in runs)
                mean = " / ".join(f"{s['mean']:.3f}" for s, _ in runs)
                rate = " / ".join(f"{r:,.0f}" for _, r in runs)
                print(f"| {level} | {db.name} | {p50} | {p99} | {mean} | {rate} |")
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("VERDICT: no bar (a baseline for PostgreSQL's durable commit)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
