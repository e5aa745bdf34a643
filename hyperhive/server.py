"""Serving the wire protocol on a unix socket, one greenlet per connection.

A SocketServer does the framing; an endpoint answers. The broker endpoint knows
the socket's role (admin, manager, agent) and the identity it stands for, and
dispatches through the verb table; the harness has an endpoint of its own for
mcp.sock. Every error becomes a reply here, in one place.

Each socket holds a bounded number of connections, and a connection must finish
a line it started within LINE_SECONDS (SPEC §12): an agent that hogs its own
socket starves only itself, never the host's descriptors or another socket.
"""

import logging
import os
import resource
import socket
import time

import gevent
from gevent.server import StreamServer

from . import verbs, wire
from .errors import DiskFull, HiveError, TooLarge, Unavailable, is_disk_full

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15
# Open connections per socket. Our clients use one connection per request, and a
# harness has at most a few in flight (a parked recv, an ack, a report, a tool call),
# so 32 is plenty for an agent; at the cap an agent only starves itself, never the
# host's descriptors. The admin socket also carries `subscribe` streams.
AGENT_CONNECTIONS = 32
ADMIN_CONNECTIONS = 256
# A request line must be whole 10 s after its first byte: a writer that stalls
# mid-line is broken or hostile. A connection may sit quiet between requests for
# two minutes (nothing of ours keeps one open idle at all), then it is closed.
# Neither applies while a request is answered: a `recv` parks up to 180 s and a
# `subscribe` streams for as long as its reader keeps reading. A reply the peer
# does not take within a minute is abandoned with its connection.
LINE_SECONDS = 10
IDLE_SECONDS = 120
SEND_SECONDS = 60
# These deadlines are checked by one sweeper over every socket of the process rather
# than by socket timeouts: a timeout arms a timer on every wait, which a request would
# pay for, and a sweeper per socket would wake a host of a thousand agents a thousand
# times a second. The sweeper sleeps until the soonest deadline it knows of, and never
# longer than LINE_SECONDS: a line that starts meanwhile cannot be due sooner than that.


def raise_fd_limit():
    """Lift this process's open-file limit to its hard limit, so that the per-socket
    caps bite long before the process runs out of descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def bind_unix(path, mode=0o660, group=None):
    """Bind and listen on a unix socket path, replacing a stale socket file."""
    path = str(path)
    if os.path.exists(path) or os.path.islink(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, mode)
    if group is not None:
        try:
            os.chown(path, -1, group)
        except OSError as exc:
            log.warning("could not give %s to group %s: %s", path, group, exc)
    sock.listen(128)
    return sock


class BrokerEndpoint:
    """The host's sockets: one role and identity each, answered by the broker."""

    def __init__(self, broker, role, caller):
        self.broker = broker
        self.role = role
        self.caller = caller
        self.verbs = verbs.table(role)

    def hello(self):
        cmds = sorted([*self.verbs, "hello"] + (["subscribe"] if self.role == "admin" else []))
        return {"role": self.role, "name": self.caller, "cmds": cmds}

    def dispatch(self, request):
        return verbs.dispatch(self.verbs, self.broker, self.caller, request)

    def can_stream(self, request):
        return request.get("cmd") == "subscribe" and self.role == "admin"

    def subscribe(self, kinds):
        return self.broker.fanout.subscribe(kinds), self.broker.last_seq()

    def undeliver(self, ids):
        self.broker.messages.undeliver(ids, recipient=self.caller)


class Connection:
    """One client connection, and whether it is past a deadline (see LINE_SECONDS)."""

    __slots__ = ("reader", "sending_since", "sock", "waiting_since")

    def __init__(self, sock):
        self.sock = sock
        self.reader = wire.LineReader(sock)
        self.waiting_since = None      # waiting for a request (None while one is answered)
        self.sending_since = None

    def readline(self):
        self.waiting_since = time.monotonic()
        try:
            return self.reader.readline()
        finally:
            self.waiting_since = None

    def sendall(self, data):
        self.sending_since = time.monotonic()
        try:
            # Nearly every reply fits the socket's buffer and goes in one send; gevent's
            # sendall would first ask the kernel for the buffer's size, every time.
            sent = self.sock.send(data)
            if sent < len(data):
                self.sock.sendall(memoryview(data)[sent:])
        finally:
            self.sending_since = None

    def due(self):
        """When this connection is past its deadline; None while a request is answered
        (a recv parks, a subscribe streams) or once it is closed."""
        if self.sock.fileno() < 0:
            return None
        if self.sending_since is not None:
            return self.sending_since + SEND_SECONDS
        if self.waiting_since is None:
            return None
        if self.reader.line_started is not None:
            return self.reader.line_started + LINE_SECONDS
        return self.waiting_since + IDLE_SECONDS

    def overdue(self, now):
        due = self.due()
        return due is not None and now > due


class _Sweeper:
    """The one greenlet that closes connections past a deadline, for every open server."""

    def __init__(self):
        self.servers = set()
        self._greenlet = None

    def add(self, server):
        self.servers.add(server)
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)

    def remove(self, server):
        self.servers.discard(server)

    def _run(self):
        while self.servers:
            gevent.sleep(self._pause(time.monotonic()))
            now = time.monotonic()
            for server in list(self.servers):
                # Closing makes the connection's greenlet end on an OSError.
                for conn in [c for c in server.connections if c.overdue(now)]:
                    conn.sock.close()

    def _pause(self, now):
        """Seconds until the soonest deadline, at most LINE_SECONDS (see there)."""
        soonest = now + LINE_SECONDS
        for server in self.servers:
            for conn in server.connections:
                due = conn.due()
                if due is not None and due < soonest:
                    soonest = due
        return max(soonest - now, 0.01)


_SWEEPER = _Sweeper()


class SocketServer:
    def __init__(self, path, endpoint, group=None, mode=0o660,
                 max_connections=AGENT_CONNECTIONS):
        self.path = str(path)
        self.endpoint = endpoint
        self.max_connections = max_connections
        self.connections = set()
        self._server = StreamServer(bind_unix(path, mode=mode, group=group), self._handle)

    def start(self):
        self._server.start()
        _SWEEPER.add(self)

    def stop(self):
        _SWEEPER.remove(self)
        self._server.stop(timeout=1)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _handle(self, sock, _address):
        if len(self.connections) >= self.max_connections:
            self._refuse(sock)
            return
        conn = Connection(sock)
        self.connections.add(conn)
        try:
            self._serve(conn)
        finally:
            self.connections.discard(conn)
            sock.close()

    def _refuse(self, sock):
        full = Unavailable(f"this socket already has {self.max_connections} open connections; "
                           "close one (or wait for a reply) and try again")
        try:
            sock.settimeout(1)
            sock.sendall(wire.encode(wire.error(full)))
        except OSError:
            pass
        finally:
            sock.close()

    def _serve(self, conn):
        try:
            while True:
                try:
                    line = conn.readline()
                except TooLarge as exc:
                    conn.sendall(wire.encode(wire.error(exc)))
                    return
                if line is None:
                    return
                if not line.strip():
                    continue
                if not self._answer(conn, line):
                    return
        except OSError:
            return    # the peer went away, or was past a deadline; nothing to answer

    def _answer(self, conn, line):
        """Answer one request line; False when the connection should end."""
        delivered = []
        try:
            request = wire.decode_request(line)
            if request.get("cmd") == "hello":
                reply = wire.ok(**self.endpoint.hello())
            elif self.endpoint.can_stream(request):
                self._stream(conn, request)
                return False
            else:
                reply = wire.ok(**self.endpoint.dispatch(request))
                delivered = [m["id"] for m in reply.get("messages", [])
                             if request.get("cmd") == "recv"]
        except HiveError as exc:
            reply = wire.error(exc)
        except Exception as exc:
            if is_disk_full(exc):
                # A file write outside the database (a repo, a state dir): the same state.
                log.warning("%s: %s failed: the disk is full", self.path, _cmd_of(line))
                exc = DiskFull()
            else:
                log.exception("%s: %s failed", self.path, _cmd_of(line))
            reply = wire.error(exc)
        try:
            conn.sendall(wire.encode(reply))
        except OSError:
            # The receiver is gone: messages in this reply were never seen.
            self.endpoint.undeliver(delivered)
            raise
        return True

    def _stream(self, conn, request):
        try:
            kinds = verbs.BY_CMD["subscribe"].check(request).get("kinds")
        except HiveError as exc:
            conn.sendall(wire.encode(wire.error(exc)))
            return
        sub, seq = self.endpoint.subscribe(kinds)
        with sub:
            conn.sendall(wire.encode(wire.ok(subscribed=True, seq=seq)))
            while True:
                event = sub.get(timeout=KEEPALIVE_SECONDS)
                if event is None and sub.overflowed:
                    conn.sendall(wire.encode({"kind": "overflow", "v": wire.VERSION}))
                    return
                conn.sendall(wire.encode(event if event else {"kind": "keepalive"}))


def _cmd_of(line):
    try:
        return repr(wire.decode_request(line).get("cmd"))[:40]
    except HiveError:
        return "?"
