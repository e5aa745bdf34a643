"""Retention: rows older than HYPERHIVE_RETENTION_DAYS are deleted, once after start and
then once a day, a small batch per transaction so no write waits long behind them.

The host prunes its database (acknowledged messages, resolved approvals, answered
questions, delivered reminders); each harness prunes its events and turn stats. Freed
pages stay in the files and are reused by later rows: the files stop growing rather
than shrink (a VACUUM would rewrite the whole file while every writer waits).
"""

import logging

import gevent

from . import settings
from .errors import is_disk_full

log = logging.getLogger(__name__)

DEFAULT_DAYS = settings.BY_NAME["retention_days"].default
BATCH = 500                # rows deleted in one transaction, at most
PAUSE_SECONDS = 0.05       # between two batches: the hot path's writes go first
PERIOD_SECONDS = 86400     # one run a day: the age of a row is counted in days


def cutoff(days, now):
    """Rows older than this time go; None when the setting keeps everything."""
    return now - days * 86400 if days > 0 else None


def drain(delete_batch, pause=PAUSE_SECONDS):
    """Call `delete_batch()` (one transaction -> rows deleted, whether more may be left)
    until nothing is left, pausing between calls; (rows deleted, batches)."""
    total = batches = 0
    while True:
        deleted, more = delete_batch()
        total += deleted
        batches += 1
        if not more:
            return total, batches
        gevent.sleep(pause)


def daily(prune, what):
    """A greenlet's body: `prune()` now and every PERIOD_SECONDS after. One sleep a day,
    not a poll: nothing announces that a row has grown old."""
    while True:
        try:
            gone = {k: n for k, n in prune().items() if n and k != "batches"}
            if gone:
                log.info("retention: deleted from %s %s", what,
                         ", ".join(f"{n} {k}" for k, n in gone.items()))
        except Exception as exc:
            if is_disk_full(exc):
                log.warning("retention of %s skipped: the disk is full", what)
            else:
                log.exception("retention of %s failed", what)
        gevent.sleep(PERIOD_SECONDS)
