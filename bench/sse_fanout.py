"""SSE fan-out: 500 open dashboard streams, how long until every one has an event.

A real host serves the dashboard; this script opens N raw HTTP connections (one
selector, no thread per stream), then sends messages through the admin socket and
times, for each message, the delay from the send to the moment each stream has it.
Two kinds of stream, one after the other: the JSON event stream (GET /events, what
`ctl subscribe` and API clients read) and the dashboard page's own stream
(GET /events/page, the rendered fragments htmx swaps in: the message's row in the
flow, the agents section with its unread count). Prints p50/p99/max over all
(stream, event) pairs. Bar (SPEC §11): p99 ≤ 50 ms with 500 streams.

Run: .venv/bin/python bench/sse_fanout.py [--streams 500] [--events 30] [--kinds json,page]
"""

import argparse
import json
import os
import selectors
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from hive import HostProcess, free_port

BAR_MS = 50
PATHS = {"json": "/events?kinds=sent", "page": "/events/page"}


def open_stream(port, cookie, path):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
              "Accept: text/event-stream\r\n\r\n".encode())
    s.setblocking(False)
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=500)
    ap.add_argument("--events", type=int, default=30)
    ap.add_argument("--kinds", default=",".join(PATHS), help="json, page or both")
    args = ap.parse_args(argv)
    results = {kind: fan_out(kind, args.streams, args.events)
               for kind in args.kinds.split(",")}
    passed = all(p99 <= BAR_MS for p99 in results.values())
    print(f"\nVERDICT sse: {'PASS' if passed else 'MISS'} — " + ", ".join(
        f"{kind} stream p99 {p99:.1f} ms {'PASS' if p99 <= BAR_MS else 'MISS'}"
        for kind, p99 in results.items()) + f" (bar {BAR_MS} ms)")
    return 0 if passed else 1


def fan_out(kind, streams, events):
    port = free_port()
    h = HostProcess(dashboard_port=port).start()
    cookie = h.login()
    sel = selectors.DefaultSelector()
    buffers = {}
    try:
        for _ in range(streams):
            s = open_stream(port, cookie, PATHS[kind])
            sel.register(s, selectors.EVENT_READ)
            buffers[s] = b""
        time.sleep(1.0)
        _drain(sel, buffers, 2.0)          # headers, the retry line, a page's hello
        with socket.socket(socket.AF_UNIX) as admin:
            admin.connect(str(h.sock))
            delays = []
            for i in range(events):
                marker = f"fanout-{i}-{time.time()}"
                sent = time.perf_counter()
                admin.sendall((json.dumps({"cmd": "send", "to": "manager",
                                           "body": marker}) + "\n").encode())
                admin.recv(4096)
                delays += _until_all_have(sel, buffers, marker.encode(), sent)
                time.sleep(0.05)
        state = json.loads(_get(port, "/api/state", cookie))
    finally:
        for s in list(buffers):
            s.close()
        h.stop()
    delays.sort()
    p50 = statistics.median(delays)
    p99 = delays[int(len(delays) * 0.99) - 1]
    print(f"{kind} stream ({PATHS[kind]}): {state.get('streams')} open at the host; "
          f"{streams} streams × {events} events = {len(delays)} deliveries; send → at "
          f"every stream p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {delays[-1]:.1f} ms",
          flush=True)
    return p99


def _drain(sel, buffers, seconds):
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        for key, _ in sel.select(timeout=0.05):
            try:
                buffers[key.fileobj] += key.fileobj.recv(65536)
            except BlockingIOError:
                pass
    for s in buffers:
        buffers[s] = b""


def _until_all_have(sel, buffers, marker, sent, timeout=10):
    pending = set(buffers)
    delays = []
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                buffers[s] += s.recv(65536)
            except BlockingIOError:
                continue
            if s in pending and marker in buffers[s]:
                delays.append((time.perf_counter() - sent) * 1000)
                pending.discard(s)
                buffers[s] = b""
    if pending:
        raise SystemExit(f"{len(pending)} streams never got the event")
    return delays


def _get(port, path, cookie):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n"
                  .encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1]


if __name__ == "__main__":
    sys.exit(main())
