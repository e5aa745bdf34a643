"""What every part of the broker writes through: the store, the group-commit writer, the
clock, the dashboard's fan-out, and the doorbells that wake parked receivers and timers.

A part changes state only inside `write`: its rows commit together and the events it
`emit`s are published after the commit. Nothing here knows what the rows mean.

A message posted to a recipient whose `recv` is parked on an empty inbox is handed to
that receiver in the sender's own transaction: the row is inserted already delivered,
and the receiver gets it after the commit, without a second transaction to take it.
Order is kept by one rule: a receiver parks only on an inbox it has just found empty,
and a message left undelivered in the table (sent while no one was parked, put back,
requeued, held for a paused agent) unparks every receiver of its recipient, so they
read the table again and a newer message never overtakes an older one.

On PostgreSQL there is no hand-over: a receiver's look at its inbox waits on the
server, so "nothing yielded since" cannot hold, and another host's message may be
committed and not yet announced. Every message lands in the table and its bell (or
another host's NOTIFY) sends the receiver to read it there, in order.
"""

import json
import time
from collections import defaultdict
from functools import partial

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
        self.writer = GroupWriter(store.atomic, disk=self.disk)
        self._bells = defaultdict(Event)
        self._parked = defaultdict(list)   # recipient -> its parked receivers, oldest first
        self.timer_bell = Event()      # rung when a reminder or a question deadline is added
        self.hands_over = not store.on_postgres
        # A hive of several hosts (hosts.py) announces, inside the write, a message left
        # unread, and timers changed; a lone host has no one to tell. (Its events are
        # announced by the store, with the commit that writes them: pgbatch.py.)
        self.announce_unread = lambda recipient: None
        self.announce_timers = lambda: None

    def write(self, fn):
        return self.writer.write(fn)

    def write_relaxed(self, fn):
        """A write whose loss in a power cut costs nothing worse than a redelivery
        (delivery marks, acks) or a stale badge (reports, transients): committed
        before the reply, but not fsynced on its own."""
        return self.writer.write(fn, durable=False)

    def emit(self, event_kind, /, **data):
        """Inside a write: store a dashboard event; it is published after commit."""
        if self.store.on_postgres:
            # Its seq is given as the transaction commits (pgbatch.py).
            event = {"seq": None, "kind": event_kind, "at": self.clock(), "data": data}
            self.store.queue_event(event)
            self.writer.after_commit(partial(self.fanout.publish, event))
            return
        seq = self.store.add_event(event_kind, data, self.clock())
        self.writer.after_commit(partial(
            self.fanout.publish, {"seq": seq, "kind": event_kind, "at": self.clock(),
                                  "data": data}))

    def post(self, sender, recipient, body, in_reply_to=None, broadcast=False):
        """Inside a write: insert one message and record its `sent` event; hand it to a
        receiver parked on `recipient`'s empty inbox if there is one."""
        now = self.clock()
        taker = self._taker(recipient)
        if not taker:
            self.left_unread(recipient)
        msg_id = self.store.add_message(sender, recipient, body, now, in_reply_to=in_reply_to,
                                        broadcast=broadcast,
                                        delivered_at=now if taker else None)
        self.emit("sent", id=msg_id, sender=sender, to=recipient,
                  body=body[:2000], in_reply_to=in_reply_to)
        if taker:
            self.emit("delivered", id=msg_id, to=recipient, sender=sender)
            row = {"id": msg_id, "sender": sender, "recipient": recipient, "body": body,
                   "sent_at": now, "delivered_at": now, "acked_at": None,
                   "in_reply_to": in_reply_to, "redelivered": False, "broadcast": broadcast}
            self.writer.after_commit(partial(taker.hand, row))
        return msg_id

    # -- parked receivers -----------------------------------------------------------

    def park(self, recipient):
        """A receiver that has just found `recipient`'s inbox empty (nothing yielded since)
        waits: register it for a hand-over. `unpark` it when it wakes."""
        parked = Parked(self.bell(recipient))
        self._parked[recipient].append(parked)
        return parked

    def unpark(self, recipient, parked):
        waiting = self._parked.get(recipient)
        if waiting and parked in waiting:
            waiting.remove(parked)
            if not waiting:
                del self._parked[recipient]

    def left_unread(self, recipient):
        """Inside a write: `recipient` has a message undelivered in the table: no receiver
        of its stays parked; each reads the table when its bell rings."""
        self._parked.pop(recipient, None)
        self.announce_unread(recipient)

    def _taker(self, recipient):
        waiting = self._parked.get(recipient)
        if not waiting:
            return None
        taker = waiting.pop(0)
        if not waiting:
            del self._parked[recipient]
        return taker

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


class Parked:
    """A `recv` waiting on an empty inbox: a send may hand it one message directly."""

    __slots__ = ("bell", "row")

    def __init__(self, bell):
        self.bell = bell
        self.row = None

    def hand(self, row):
        """After the commit that delivered `row` to this receiver: wake it."""
        self.row = row
        self.bell.set()
