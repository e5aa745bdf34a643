"""Server-sent event streams: the JSON event stream and the pages' fragment stream.

`stream(source, ...)` answers an event-stream request over any `source` with
`.fanout.subscribe(kinds)`, `.events_after(seq, kinds)` and `.last_seq()`. It
subscribes before reading the replay, so nothing falls between the two, and
replays from `Last-Event-ID` (or `?last_event_id=`) after a reconnect.

Each event goes out as one JSON frame (for `ctl subscribe` and API clients), or,
when the caller passes `render`, as the page fragments that event changes:
`render(event)` returns `[(target, html), ...]` and each becomes a frame whose
event name is the target, so an element with `sse-swap="<target>"` swaps the
html in. Only the event's last frame carries its id: a reconnect in the middle
of one event replays the whole of it. With `tick` as well, `tick()` is called
about once a second while the stream is open, and the fragments it returns go
out with no id: what changes with time alone (ages, countdowns), so the browser
needs no formatter of its own. With `hello`, a stream opens with `hello()`, the
whole page's fragments as they are now, and then replays only what comes after
them, whatever id the browser sends.
"""

import contextlib
import functools
import json
import random
import socket
import time

import bottle
import gevent
import gevent.queue
import gevent.socket

MIN_KEEPALIVE = 0.05       # seconds: a shorter one (HYPERHIVE_SSE_KEEPALIVE) would spin
RETRY_MS = 3000
TICK_SECONDS = 1.0
SEND_TIMEOUT = 60          # a stream whose client reads nothing for this long is dropped
SOCKET_KEY = "hyperhive.socket"


class Gauge:
    """How many streams are open (shown in /api/state, checked by the tests)."""

    def __init__(self):
        self.value = 0

    def __int__(self):
        return self.value


GONE = object()       # put on a stream's queue when its client hangs up
_frames = {}
_FRAME_CACHE = 512


def frame(event):
    """One SSE frame: id, event kind, and the event's data with seq and at added."""
    key = (id(event), event["seq"])
    cached = _frames.get(key)
    if cached is not None and cached[0] is event:
        return cached[1]
    data = json.dumps({**event["data"], "seq": event["seq"], "at": event["at"]},
                      ensure_ascii=False, separators=(",", ":"))
    # An event that is not stored (seq None) carries no id: a reconnect cannot replay it.
    head = "" if event["seq"] is None else f"id: {event['seq']}\n"
    out = f"{head}event: {event['kind']}\ndata: {data}\n\n".encode()
    # Many streams write the same event object: encode it once for all of them.
    if len(_frames) >= _FRAME_CACHE:
        _frames.clear()
    _frames[key] = (event, out)
    return out


def last_event_id():
    raw = bottle.request.headers.get("Last-Event-ID") or bottle.request.query.get("last_event_id")
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def kinds_filter():
    raw = bottle.request.query.get("kinds")
    if not raw:
        return None
    kinds = {k.strip() for k in raw.split(",") if k.strip()}
    return kinds or None


def keepalive_seconds(settings):
    """Seconds between keep-alive comments (HYPERHIVE_SSE_KEEPALIVE; tests use a short one)."""
    return max(MIN_KEEPALIVE, settings.sse_keepalive)


def stream(source, gauge, keepalive, render=None, tick=None, hello=None):
    """The response to an events request: set the headers and return the stream.

    Skips live events the replay already carried. A stream ends when the client
    hangs up, when it falls too far behind (the browser then reconnects with
    Last-Event-ID), or when it reads nothing for SEND_TIMEOUT seconds.
    """
    last = last_event_id()
    kinds = kinds_filter()
    stream_headers()
    encode = frame if render is None else _fragments(render)
    ticks = None if tick is None else _ticks(tick)
    return _stream(source, last, kinds, bottle.request.environ.get(SOCKET_KEY), gauge,
                   keepalive, encode, ticks, hello)


def fragment_frames(seq, fragments):
    """SSE frames for rendered fragments: event name = target, one data line per line
    of html; the id goes on the last frame only."""
    last = len(fragments) - 1
    return "".join(_frame(target, html, seq if i == last else None)
                   for i, (target, html) in enumerate(fragments)).encode()


# Open pages share the html of one event (dashlive.Shared): each frame is built once.
# A few recent ones are kept, as a whole section of a big hive can be large.
@functools.lru_cache(maxsize=32)
def _frame(target, html, seq):
    head = f"id: {seq}\n" if seq is not None else ""
    # A CR ends an SSE line too: as a character reference it cannot split a frame.
    html = html.replace("\r", "&#13;")
    data = "".join(f"data: {line}\n" for line in html.split("\n"))
    return f"{head}event: {target}\n{data}\n"


def _fragments(render):
    def encode(event):
        return fragment_frames(event["seq"], render(event))
    return encode


def _ticks(tick):
    def encode():
        fragments = tick()
        return fragment_frames(None, fragments) if fragments else None
    return encode


def stream_headers():
    bottle.response.content_type = "text/event-stream; charset=utf-8"
    bottle.response.set_header("Cache-Control", "no-cache")
    bottle.response.set_header("X-Accel-Buffering", "no")


@contextlib.contextmanager
def watched(sock, sub):
    """While a stream runs: a client that hangs up puts GONE on its queue, and a client
    that stops reading times the writes out. Afterwards the subscription is closed."""
    try:
        with on_hangup(sock, lambda: _put_gone(sub)):
            yield
    finally:
        sub.close()


def _put_gone(sub):
    try:
        sub.queue.put_nowait(GONE)
    except gevent.queue.Full:
        pass


@contextlib.contextmanager
def on_hangup(sock, callback):
    """While the block runs, `callback()` is called once the client closes its side, and
    writes to a client that stops reading time out after SEND_TIMEOUT seconds."""
    watcher = None
    if sock is not None:
        sock.settimeout(SEND_TIMEOUT)
        watcher = gevent.spawn(_watch_hangup, sock, callback)
    try:
        yield
    finally:
        if watcher is not None:
            watcher.kill(block=False)
        if sock is not None:
            try:
                sock.settimeout(None)
            except OSError:
                pass


def _stream(source, last, kinds, sock, gauge, keepalive, encode=None, ticks=None, hello=None):
    sub = source.fanout.subscribe(kinds)
    if gauge is not None:
        gauge.value += 1
    try:
        with watched(sock, sub):
            yield from _events(source, sub, last, kinds, keepalive, encode or frame, ticks,
                               hello)
    finally:
        if gauge is not None:
            gauge.value -= 1


def _events(source, sub, last, kinds, keepalive, encode, ticks=None, hello=None):
    yield f"retry: {RETRY_MS}\n: hyperhive events\n\n".encode()
    seen = -1
    if hello is not None:
        # read before the page: events after it may already show in it, so the renderer
        # must take them again without harm
        last = source.last_seq()
        yield fragment_frames(last, hello())
    if last is not None and last > source.last_seq():
        last = None     # an id from before the event store was reset: start afresh
    if last is not None:
        seen = last
        for event in source.events_after(last, kinds):
            seen = max(seen, event["seq"])
            yield encode(event)
    clock = _Clock(keepalive, ticks is not None)
    while True:
        if clock.tick_due():
            ticked = ticks()
            if ticked:
                clock.sent()
                yield ticked
        event = sub.get(timeout=clock.wait())
        if event is GONE:
            return
        if event is None:
            if sub.overflowed:
                return
            if clock.quiet():
                clock.sent()
                yield b": keepalive\n\n"
            continue
        if event["seq"] is not None:
            if event["seq"] <= seen:
                continue
            seen = event["seq"]
        clock.sent()
        yield encode(event)


class _Clock:
    """When a stream sends a keepalive (after `keepalive` seconds with nothing sent) and,
    if it ticks, when the next tick is due."""

    def __init__(self, keepalive, ticking):
        self.keepalive = keepalive
        self.ticking = ticking
        # Each stream ticks at its own phase of the second: pages opened together must
        # not all do their ticks in the same instant, in front of an event.
        self.next_tick = time.monotonic() + random.random() * TICK_SECONDS
        self.last_sent = time.monotonic()

    def tick_due(self):
        if not self.ticking or time.monotonic() < self.next_tick:
            return False
        self.next_tick = time.monotonic() + TICK_SECONDS
        return True

    def wait(self):
        until = self.last_sent + self.keepalive
        if self.ticking:
            until = min(until, self.next_tick)
        return max(0.0, until - time.monotonic())

    def quiet(self):
        return time.monotonic() - self.last_sent >= self.keepalive

    def sent(self):
        self.last_sent = time.monotonic()


def _watch_hangup(sock, callback):
    """Call back as soon as the client closes its side (it never sends more)."""
    try:
        gevent.socket.wait_read(sock.fileno())
        data = sock.recv(1, socket.MSG_PEEK)
    except (OSError, ValueError):
        data = b""
    if data:
        return          # the client sent something (a pipelined request): leave it be
    callback()
