"""SSE fan-out: 500 open dashboard streams, how long until every one has an event.

A real host serves the dashboard; this script opens N raw HTTP connections to
GET /events (one selector, no thread per stream), then sends messages through
the admin socket and times, for each message, the delay from the send to the
moment each stream has the `sent` frame. Prints p50/p99/max over all
(stream, event) pairs. Bar (SPEC §11): p99 ≤ 50 ms with 500 streams.
"""

import json
import os
import selectors
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from hive import HostProcess, free_port

STREAMS = int(os.environ.get("STREAMS", 500))
EVENTS = int(os.environ.get("EVENTS", 30))
BAR_MS = 50


def open_stream(port, cookie):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET /events?kinds=sent HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
              "Accept: text/event-stream\r\n\r\n".encode())
    s.setblocking(False)
    return s


def main():
    port = free_port()
    h = HostProcess(dashboard_port=port).start()
    cookie = h.login()
    sel = selectors.DefaultSelector()
    buffers = {}
    try:
        for _ in range(STREAMS):
            s = open_stream(port, cookie)
            sel.register(s, selectors.EVENT_READ)
            buffers[s] = b""
        time.sleep(1.0)
        _drain(sel, buffers, 0.5)                        # headers and the retry line
        with socket.socket(socket.AF_UNIX) as admin:
            admin.connect(str(h.sock))
            delays = []
            for i in range(EVENTS):
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
    print(f"streams open at the host: {state.get('streams')}")
    print(f"{STREAMS} streams × {EVENTS} events = {len(delays)} deliveries")
    print(f"send → frame at every stream: p50 {p50:.1f} ms  p99 {p99:.1f} ms  "
          f"max {delays[-1]:.1f} ms")
    print(f"verdict: p99 {'≤' if p99 <= BAR_MS else '>'} {BAR_MS} ms → "
          f"{'meets' if p99 <= BAR_MS else 'misses'} the bar")


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
    main()
