"""What every part of the broker writes through: the store, the group-commit writer, the
clock, the dashboard's fan-out, and the doorbells that wake parked receivers and timers.

A part changes state only inside `write`: its rows commit together and the events it
`emit`s are published after the commit. Nothing here knows what the rows mean.
"""

import json
import time
from collections import defaultdict

from gevent.event import Event

from .disk import DiskState
from .fanout import Fanout
from .groupcommit import GroupWriter
from .names import SYSTEM


class Bus:
    def __init__(self, store, places=None, clock=time.time):
        self.store = store
        self.places = places
        self.clock = clock
        self.fanout = Fanout()
        self.disk = DiskState("the hive's disk", places.lib if places else None,
                              on_change=self._disk_changed)
        self.writer = GroupWriter(store.atomic, self._publish, disk=self.disk)
        self._bells = defaultdict(Event)
        self.timer_bell = Event()      # rung when a reminder or a question deadline is added

    def write(self, fn):
        return self.writer.write(fn)

    def write_relaxed(self, fn):
        """A write whose loss in a power cut costs nothing worse than a redelivery
        (delivery marks, acks) or a stale badge (reports, transients): committed
        before the reply, but not fsynced on its own."""
        return self.writer.write(fn, durable=False)

    def emit(self, event_kind, /, **data):
        """Inside a write: store a dashboard event; it is published after commit."""
        seq = self.store.add_event(event_kind, data, self.clock())
        self.writer.effect({"seq": seq, "kind": event_kind, "at": self.clock(), "data": data})

    def post(self, sender, recipient, body, in_reply_to=None, broadcast=False):
        """Inside a write: insert one message and record its `sent` event."""
        msg_id = self.store.add_message(sender, recipient, body, self.clock(),
                                        in_reply_to=in_reply_to, broadcast=broadcast)
        self.emit("sent", id=msg_id, sender=sender, to=recipient,
                  body=body[:2000], in_reply_to=in_reply_to)
        return msg_id

    def post_system(self, to, event, **fields):
        """Inside a write: a system message, a JSON body naming its `event`."""
        return self.post(SYSTEM, to, json.dumps({"event": event, **fields}))

    def bell(self, recipient):
        return self._bells[recipient]

    def ring(self, recipient):
        self._bells[recipient].set()

    def _disk_changed(self, state):
        """Pages hear at once that the disk filled or has room again. Published, not
        stored (a full disk takes no event); a page that connects later reads it from
        the state."""
        self.fanout.publish({"seq": None, "kind": "disk_changed", "at": self.clock(),
                             "data": state})

    def _publish(self, events):
        for event in events:
            self.fanout.publish(event)
