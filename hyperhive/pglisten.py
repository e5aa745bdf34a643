"""One PostgreSQL connection that LISTENs, and hands each notice to a callback.

It waits on the connection's socket without blocking the process (gevent), so a notice
wakes its greenlet at once and nothing polls. A lost connection is opened again with
growing pauses; every channel is LISTENed again, and `on_connect` runs each time it is
(re)connected, so its owner can make up for the notices that were sent while it was
down (a NOTIFY is not kept for a session that was not listening).
"""

import logging

import gevent
import psycopg2
from gevent.event import Event

from . import pgdb
from .errors import Unavailable

log = logging.getLogger(__name__)

RETRY_SECONDS = (0.2, 0.5, 1, 2, 5)


def quoted(channel):
    """A channel's name as an SQL identifier (the callers' names never hold a quote)."""
    return '"' + channel.replace('"', '""') + '"'


class Listener:
    def __init__(self, url, on_notice, on_connect=lambda: None, role="hyperhive listen"):
        self.url = url
        self.role = role                      # its name in pg_stat_activity
        self.on_notice = on_notice            # (channel, payload)
        self.on_connect = on_connect
        self.connected = Event()
        self._channels = set()
        self._added = set()                   # LISTENed once the loop next runs
        self._wake = Event()
        self._conn = None
        self._greenlet = None

    def listen(self, *channels):
        new = set(channels) - self._channels
        if new:
            self._channels |= new
            self._added |= new
            self._wake.set()

    def start(self):
        self._greenlet = gevent.spawn(self._run)
        return self

    def stop(self):
        if self._greenlet is not None:
            self._greenlet.kill()
        if self._conn is not None and not self._conn.closed:
            self._conn.close()

    def _run(self):
        failures = 0
        while True:
            try:
                self._connect()
                failures = 0
                self._serve()
            except (psycopg2.Error, Unavailable, OSError) as exc:
                self.connected.clear()
                pause = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("the database's notices are cut off (%s); trying again in %s s",
                            str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                            pause)
                gevent.sleep(pause)

    def _connect(self):
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = pgdb.connect(self.url, self.role)
        self._added = set()
        self._execute([f"LISTEN {quoted(c)}" for c in sorted(self._channels)])
        self.connected.set()
        self.on_connect()

    def _serve(self):
        conn = self._conn
        # Rung by the server (a notice, or the connection closing) and by a new channel.
        watcher = gevent.get_hub().loop.io(conn.fileno(), 1)
        watcher.start(self._wake.set)
        try:
            while True:
                if self._added:
                    added, self._added = self._added, set()
                    self._execute([f"LISTEN {quoted(c)}" for c in sorted(added)])
                conn.poll()
                self._deliver()
                self._wake.clear()
                # At least every few seconds, so a connection that died silently is noticed.
                if not self._wake.wait(5):
                    self._execute(["SELECT 1"])
        finally:
            watcher.stop()

    def _execute(self, statements):
        if not statements:
            return
        with self._conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)

    def _deliver(self):
        conn = self._conn
        while conn.notifies:
            notice = conn.notifies.pop(0)
            try:
                self.on_notice(notice.channel, notice.payload)
            except Exception:
                log.exception("a database notice's handler failed")
