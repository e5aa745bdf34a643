"""In-process fan-out of events to subscribers (SSE streams, `subscribe` sockets).

Publishing never blocks: each subscriber has a bounded queue, and one that
falls too far behind is cut off rather than slowing the publisher or anyone
else. A cut-off client reconnects and replays what it missed from storage.
"""

import gevent.queue


class Subscription:
    def __init__(self, fanout, kinds, maxsize):
        self._fanout = fanout
        self.kinds = set(kinds) if kinds else None
        self.queue = gevent.queue.Queue(maxsize=maxsize)
        self.overflowed = False

    def wants(self, event):
        return self.kinds is None or event["kind"] in self.kinds

    def get(self, timeout=None):
        """Next event, or None on timeout or after this subscription was cut off."""
        if self.overflowed and self.queue.empty():
            return None
        try:
            return self.queue.get(timeout=timeout)
        except gevent.queue.Empty:
            return None

    def close(self):
        self._fanout.unsubscribe(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Fanout:
    def __init__(self, maxsize=1000):
        self.maxsize = maxsize
        self._subs = set()

    def subscribe(self, kinds=None):
        sub = Subscription(self, kinds, self.maxsize)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub):
        self._subs.discard(sub)

    def publish(self, event):
        for sub in list(self._subs):
            if not sub.wants(event):
                continue
            try:
                sub.queue.put_nowait(event)
            except gevent.queue.Full:
                sub.overflowed = True
                self._subs.discard(sub)

    def __len__(self):
        return len(self._subs)
