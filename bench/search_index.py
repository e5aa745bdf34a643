"""The full-text index: what it costs each send, and how long a search takes.

In process, on real sqlite files (the broker's Store, WAL, synchronous=FULL):

1. Index cost per send: one message per durable transaction (a lone send: the
   message row and its index entry, committed and fsynced), with no index and with
   each index shape tried (FTS5 options, automerge settings); then 32 messages per
   transaction (a busy group-commit batch). CPU per send (this process's user +
   system time) and wall time per send, each shape beside the no-index baseline
   measured in the same run, rounds interleaved so load on the machine hits all alike.
2. Query time at `--messages` messages (100,000 by default): the newest 20 hits for
   a common word, a rare word, two words, one agent's scope, best-first; the median
   and p90 of `--queries` runs each, through broker.searches.

Bodies are drawn from a Zipf-like vocabulary (5 to 60 words). Run:
.venv/bin/python bench/search_index.py [--sends 2000] [--messages 100000]
"""

import argparse
import random
import sys
import tempfile
import time
import types
from pathlib import Path

import benchlib as B

sys.path.insert(0, str(B.REPO))

from hyperhive import searchrows
from hyperhive.searches import Searches
from hyperhive.store import Store

# name -> (FTS5 options, FTS5 settings); None: no index at all
SHAPES = {
    "no index": None,
    "kept: detail=none, columnsize=0, automerge=16": (searchrows.OPTIONS, searchrows.SETTINGS),
    "detail=full (FTS5's defaults)": ("detail=full", ()),
    "detail=column": ("detail=column", ()),
    "detail=none": ("detail=none", ()),
    "detail=none, columnsize=0": (searchrows.OPTIONS, ()),
    "detail=none, columnsize=0, tokenize=ascii": (searchrows.OPTIONS + ", tokenize=ascii",
                                                  searchrows.SETTINGS),
}
KEPT = "kept: detail=none, columnsize=0, automerge=16"
# the query times are measured on these
QUERIED = (KEPT, "detail=none, columnsize=0")
AGENTS = [f"agent{i}" for i in range(20)]
RARE = "zyxwvut"


def vocabulary(n=20000):
    r = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(r.choice(letters) for _ in range(r.randint(3, 9))) for _ in range(n)]


def bodies(count, seed, lo=5, hi=60):
    words = vocabulary()
    weights = [1 / (i + 1) for i in range(len(words))]
    r = random.Random(seed)
    out = []
    for _ in range(count):
        out.append(" ".join(r.choices(words, weights, k=r.randint(lo, hi))))
    return out


def open_store(path, shape):
    store = Store(path)
    searchrows.drop_indexes(store._conn)
    if shape is not None:
        searchrows.ensure_indexes(store._conn, *shape)
    return store


def send_cost(tmp, shape, texts, per_tx):
    """CPU and wall µs per message, `per_tx` messages per transaction. Not fsynced: the
    index adds no fsync of its own (its pages ride in the same WAL commit), and the
    fsync's time in the kernel would drown the difference; latency.py and
    throughput.py measure the whole durable send."""
    path = Path(tmp) / f"send-{random.random()}.sqlite"
    store = open_store(path, shape)
    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for i in range(0, len(texts), per_tx):
            with store.atomic(durable=False):
                for j, text in enumerate(texts[i:i + per_tx]):
                    store.add_message("operator", AGENTS[(i + j) % len(AGENTS)], text,
                                      time.time())
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    return cpu / len(texts) * 1e6, wall / len(texts) * 1e6


def bench_sends(tmp, n, rounds):
    kinds = {"a 1-word body": bodies(n, seed=1, lo=1, hi=1),
             "5-60 words": bodies(n, seed=1)}
    rows = {}
    for kind, texts in kinds.items():
        for per_tx in (1, 32):
            results = {name: [] for name in SHAPES}
            for _ in range(rounds):
                for name, shape in SHAPES.items():
                    results[name].append(send_cost(tmp, shape, texts, per_tx))
            rows[kind, per_tx] = {name: (min(c for c, _ in got), min(w for _, w in got))
                                  for name, got in results.items()}
    print(f"\nindex cost per message ({n} messages, best of {rounds} interleaved rounds; "
          "µs; commits not fsynced)")
    for (kind, per_tx), table in rows.items():
        base_cpu, base_wall = table["no index"]
        print(f"  {kind}, {per_tx} message(s) per transaction:")
        print(f"    {'shape':44} {'CPU':>7} {'+CPU':>7} {'wall':>8} {'+wall':>7}")
        for name, (cpu, wall) in table.items():
            print(f"    {name:44} {cpu:7.1f} {cpu - base_cpu:+7.1f} {wall:8.1f} "
                  f"{wall - base_wall:+7.1f}")
    return rows


def fill(store, count):
    """One message per transaction (not fsynced), as lone sends leave the index: a
    segment per commit, merged as the shape's settings say."""
    texts = bodies(count, seed=2)
    r = random.Random(3)
    t0 = time.perf_counter()
    for i, text in enumerate(texts):
        if r.random() < 0.001:
            text += f" {RARE}"
        with store.atomic(durable=False):
            store.add_message(r.choice(AGENTS), r.choice(AGENTS), text, 1.7e9 + i)
    return time.perf_counter() - t0


def bench_queries(tmp, count, runs, shape_name):
    path = Path(tmp) / f"query-{QUERIED.index(shape_name)}.sqlite"
    store = open_store(path, SHAPES[shape_name])
    took = fill(store, count)
    size = sum(p.stat().st_size for p in Path(tmp).glob(f"{path.name}*"))
    common = bodies(1, seed=1)[0].split()[0]
    searches = Searches(types.SimpleNamespace(store=store))
    cases = [("a common word", "operator", common, {}),
             ("a rare word", "operator", RARE, {}),
             ("two words", "operator", f"{common} {vocabulary()[1]}", {}),
             ("two words, one agent's scope", AGENTS[3], f"{common} {vocabulary()[1]}", {}),
             ("a common word, best first", "operator", common, {"order": "best"}),
             ("a rare word, best first", "operator", RARE, {"order": "best"})]
    print(f"\nsearch at {count} messages, {shape_name} (filled one per commit in {took:.1f} s, "
          f"index; database {size / 1e6:.0f} MB); newest 20 unless said; {runs} runs each; ms")
    print(f"  {'query':34} {'hits':>5} {'p50':>8} {'p90':>8}")
    out = {}
    for name, caller, query, extra in cases:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            hits = searches.search(caller, query, limit=20, **extra)["results"]
            times.append(time.perf_counter() - t0)
        p50, p90 = B.percentile(times, 50) * 1e3, B.percentile(times, 90) * 1e3
        out[name] = (p50, p90)
        print(f"  {name:34} {len(hits):5d} {p50:8.2f} {p90:8.2f}")
    store.close()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sends", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=50)
    args = ap.parse_args(argv)
    B.print_machine()
    load = B.LoadMeter()
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        bench_sends(tmp, args.sends, args.rounds)
        for shape_name in QUERIED:
            bench_queries(tmp, args.messages, args.queries, shape_name)
    print(f"machine CPU busy during the run (everything): {load.busy_pct():.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
