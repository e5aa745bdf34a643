"""Per-agent live events: kept in /state/hyperhive-events.sqlite and fanned out live.

Every event gets a monotonic `seq`; the newest HISTORY rows are kept (and none
older than the retention setting) so a page that reconnects can replay what it
missed. Writing an event never raises: a broken events file must not break a turn,
and a full disk only keeps events from being stored (logged once, not per event).
"""

import json
import logging
import time

from peewee import FloatField, Model, TextField, fn

from .disk import DiskState
from .fanout import Fanout
from .store import EVENTS_REPLAYED, open_database

log = logging.getLogger(__name__)

HISTORY = 2000


class EventRow(Model):
    ts = FloatField()
    kind = TextField()
    payload = TextField()

    class Meta:
        table_name = "events"
        database = None


class EventLog:
    """Storage only: append, read back, trim."""

    def __init__(self, path):
        self.db = open_database(path, [EventRow], durable=False)

    def append(self, kind, payload, ts):
        seq = EventRow.insert(ts=ts, kind=kind, payload=json.dumps(payload)).execute()
        if seq % 100 == 0:
            EventRow.delete().where(EventRow.id <= seq - HISTORY).execute()
        return seq

    def after(self, seq, limit=EVENTS_REPLAYED):
        """The newest `limit` events after `seq`, oldest first."""
        q = EventRow.select().where(EventRow.id > seq).order_by(EventRow.id.desc()).limit(limit)
        return [_event(r) for r in reversed(list(q))]

    def last(self, limit=HISTORY):
        q = EventRow.select().order_by(EventRow.id.desc()).limit(limit)
        return [_event(r) for r in reversed(list(q))]

    def last_seq(self):
        return EventRow.select(fn.MAX(EventRow.id)).scalar() or 0

    def prune(self, before, limit):
        """One transaction: at most `limit` events older than `before`; (deleted, more left)."""
        with self.db.atomic():
            n = self.db.execute_sql(
                "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < ? "
                "ORDER BY id LIMIT ?)", (before, limit)).rowcount
        return n, n == limit


def _event(row):
    return {"seq": row.id, "kind": row.kind, "at": row.ts, "data": json.loads(row.payload)}


class Bus:
    """emit() stores an event and pushes it to every live subscriber."""

    def __init__(self, path, clock=time.time, disk=None):
        self.clock = clock
        self.disk = disk or DiskState(f"the disk of {path}")
        self.fanout = Fanout()
        self._seq = 0
        try:
            self.log = EventLog(path)
            self._seq = self.log.last_seq()
        except Exception as exc:
            if self.disk.failed(exc):
                log.error("cannot open the events file %s; events are live only", path)
            else:
                log.exception("cannot open the events file %s; events are live only", path)
            self.log = None

    def emit(self, kind, **data):
        now = self.clock()
        seq = None
        if self.log is not None:
            try:
                seq = self.log.append(kind, data, now)
                self.disk.wrote()
            except Exception as exc:
                if not self.disk.failed(exc):
                    log.exception("could not store a %s event", kind)
        if seq is None:
            seq = self._seq + 1
        self._seq = seq
        event = {"seq": seq, "kind": kind, "at": now, "data": data}
        self.fanout.publish(event)
        return event

    def events_after(self, seq, kinds=None):
        events = self.log.after(seq) if self.log is not None else []
        return [e for e in events if not kinds or e["kind"] in kinds]

    def history(self, limit=HISTORY):
        return self.log.last(limit) if self.log is not None else []

    def last_seq(self):
        return self._seq
