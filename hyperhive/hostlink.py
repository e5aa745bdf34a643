"""The harness's side of the host socket: calls that outlast a host restart, state
reports and acks sent behind the turn, putting messages back, and notices to the manager.
"""

import logging

import gevent
import gevent.queue

from .bootconfig import CONFIG_ERROR_CHARS
from .client import RemoteError

log = logging.getLogger(__name__)

# How long the harness waits before asking again a host that answered `unavailable`
# (a full disk, a socket at its connection cap).
HOST_BUSY_SECONDS = 5
HOST_DOWN_SECONDS = 5
# What a host call can fail with besides a refusal: the socket, its framing, its timeout.
LINK_ERRORS = (OSError, ValueError, ConnectionError)


class HostLink:
    def __init__(self, client, is_manager, stopping):
        self.client = client
        self.is_manager = is_manager
        self.stopping = stopping        # an Event: set, calls stop retrying
        self._busy = False
        # State reports go to the host in order, but never hold up a turn.
        self._reports = gevent.queue.Queue()
        gevent.spawn(self._send_reports)
        # Acks go to the host behind the turn, so the next message is not kept waiting
        # for the host's commit; anything that puts messages back waits for them first.
        self._acks = gevent.queue.JoinableQueue()
        gevent.spawn(self._send_acks)

    def call(self, cmd, timeout=30, **fields):
        """A host call that outlasts host restarts: retries, then waits and tries again.

        None once the harness is stopping, or when the host refused the call outright.
        """
        while not self.stopping.is_set():
            try:
                reply = self.client.call_retrying(cmd, timeout=timeout, **fields)[0]
                if self._busy:
                    log.info("host takes %s again", cmd)
                    self._busy = False
                return reply
            except RemoteError as exc:
                if exc.code != "unavailable":
                    log.error("host refused %s: %s", cmd, exc)
                    return None
                # A full disk on the host, say: it passes, so ask again, logged once.
                if not self._busy:
                    log.warning("host cannot take %s now (%s); asking again every %d s",
                                cmd, exc, HOST_BUSY_SECONDS)
                self._busy = True
                gevent.sleep(HOST_BUSY_SECONDS)
            except LINK_ERRORS as exc:
                log.warning("host unreachable for %s (%s); trying again", cmd, exc)
                gevent.sleep(HOST_DOWN_SECONDS)
        return None

    def report(self, **fields):
        """Queue a state report; fields that are None are left out."""
        self._reports.put({k: v for k, v in fields.items() if v is not None})

    def _send_reports(self):
        for fields in self._reports:
            try:
                self.client.call("report", timeout=5, **fields)
            except (*LINK_ERRORS, RemoteError):
                pass    # the host shows what it last heard; the next change reports again

    def refuse_config(self, problem, config_sha):
        """Tell the host why this harness will not run its agent.json (one try)."""
        try:
            self.client.call("report", timeout=5, config_error=problem[:CONFIG_ERROR_CHARS],
                             **({"config_sha": config_sha} if config_sha else {}))
        except (*LINK_ERRORS, RemoteError) as exc:
            log.warning("could not tell the host why: %s", exc)

    def ack(self, ids):
        self._acks.put(sorted(ids))

    def _send_acks(self):
        for ids in self._acks:
            try:
                if self.stopping.is_set():   # one try: the host may be stopping too
                    self.client.call("ack", timeout=5, ids=ids)
                else:
                    self.call("ack", ids=ids)
            except (*LINK_ERRORS, RemoteError) as exc:
                log.warning("could not ack %s (%s); they come back flagged", ids, exc)
            finally:
                self._acks.task_done()

    def flush_acks(self, timeout=None):
        """Wait until every queued ack has reached the host (or given up)."""
        self._acks.join(timeout)

    def requeue(self):
        """Put back what this agent took and never acked, once its acks are in."""
        self.flush_acks()
        self.call("requeue")

    def tell_manager(self, event, **detail):
        if self.is_manager:
            return
        try:
            self.client.call_retrying("notify_manager", timeout=10, event=event, detail=detail)
        except (*LINK_ERRORS, RemoteError):
            log.warning("could not tell the manager about %s", event)
