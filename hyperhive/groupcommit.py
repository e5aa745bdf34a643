"""Group commit: many writers, one transaction (and one fsync) per batch.

Each `write(fn)` call parks its greenlet until the batch holding `fn` has been
committed, so a caller never replies before its row is on disk. While one batch
commits, new requests queue up and go together into the next one; that is what
lets durable throughput scale with the number of concurrent writers.

A write may say it need not survive a power cut (`durable=False`): a batch of
only such writes commits without the fsync. It still survives a killed process,
and the next durable commit fsyncs it along with its own rows.

What a write must do only once its rows are on disk (publish an event, hand a
message to a parked receiver) it gives to `after_commit`: the batch runs those after
its commit, and drops them if it rolls back.

A batch that fails for want of disk space fails for every writer in it with DiskFull
(`unavailable`), the one place a full disk becomes an answer: retrying the writes one
by one would only fail each again.
"""

import logging

import gevent
from gevent.event import AsyncResult, Event

from .disk import DiskState
from .errors import DiskFull

log = logging.getLogger(__name__)


class GroupWriter:
    def __init__(self, atomic, disk=None):
        self._atomic = atomic              # (durable) -> context manager (a transaction)
        self.disk = disk or DiskState("the database's disk")
        self._queue = []
        self._bell = Event()
        self._effects = []
        self._greenlet = gevent.spawn(self._run)

    def write(self, fn, durable=True):
        """Run fn() inside a transaction; return its value once committed."""
        result = AsyncResult()
        self._queue.append((fn, result, durable))
        self._bell.set()
        return result.get()

    def after_commit(self, fn):
        """Inside a write: call fn() once the batch holding this write has committed."""
        self._effects.append(fn)

    def drain(self, timeout=10):
        """Let every queued write commit (used when the host shuts down)."""
        with gevent.Timeout(timeout, False):
            while self._queue:
                gevent.sleep(0.01)

    def stop(self):
        self._greenlet.kill()

    def _run(self):
        while True:
            self._bell.wait()
            self._bell.clear()
            batch, self._queue = self._queue, []
            if batch:
                self._commit(batch)

    def _commit(self, batch):
        try:
            values = self._transaction([fn for fn, _, _ in batch],
                                       durable=any(durable for _, _, durable in batch))
        except Exception as exc:
            if self.disk.failed(exc):
                for _, result, _ in batch:
                    result.set_exception(DiskFull())
                return
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            # One write failed and rolled the whole batch back: run each on its own,
            # so only the failing one fails. Failures are rare (a refused write).
            for item in batch:
                self._commit([item])
            return
        self.disk.wrote()
        effects, self._effects = self._effects, []
        # Effects first: a receiver handed a message is woken before its sender.
        for effect in effects:
            try:
                effect()
            except Exception:
                log.exception("a write's after-commit step failed")
        for (_, result, _), value in zip(batch, values):
            result.set(value)

    def _transaction(self, fns, durable):
        self._effects = []
        try:
            with self._atomic(durable):
                return [fn() for fn in fns]
        except Exception:
            self._effects = []
            raise
