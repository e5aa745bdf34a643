"""Serving the wire protocol on a unix socket, one greenlet per connection.

A SocketServer does the framing; an endpoint answers. The broker endpoint knows
the socket's role (admin, manager, agent) and the identity it stands for, and
dispatches through the verb table; the harness has an endpoint of its own for
mcp.sock. Every error becomes a reply here, in one place.
"""

import logging
import os
import socket

from gevent.server import StreamServer

from . import verbs, wire
from .errors import BadArgs, HiveError, TooLarge

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15


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
        self.broker.undeliver(ids)


class SocketServer:
    def __init__(self, path, endpoint, group=None, mode=0o660):
        self.path = str(path)
        self.endpoint = endpoint
        self._server = StreamServer(bind_unix(path, mode=mode, group=group), self._handle)

    def start(self):
        self._server.start()

    def stop(self):
        self._server.stop(timeout=1)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _handle(self, sock, _address):
        reader = wire.LineReader(sock)
        try:
            while True:
                try:
                    line = reader.readline()
                except TooLarge as exc:
                    sock.sendall(wire.encode(wire.error(exc)))
                    return
                if line is None:
                    return
                if not line.strip():
                    continue
                if not self._answer(sock, line):
                    return
        except OSError:
            return    # the peer went away; nothing to answer
        finally:
            sock.close()

    def _answer(self, sock, line):
        """Answer one request line; False when the connection should end."""
        delivered = []
        try:
            request = wire.decode_request(line)
            if request.get("cmd") == "hello":
                reply = wire.ok(**self.endpoint.hello())
            elif self.endpoint.can_stream(request):
                self._stream(sock, request)
                return False
            else:
                reply = wire.ok(**self.endpoint.dispatch(request))
                delivered = [m["id"] for m in reply.get("messages", [])
                             if request.get("cmd") == "recv"]
        except HiveError as exc:
            reply = wire.error(exc)
        except Exception as exc:
            log.exception("%s: %s failed", self.path, _cmd_of(line))
            reply = wire.error(exc)
        try:
            sock.sendall(wire.encode(reply))
        except OSError:
            # The receiver is gone: messages in this reply were never seen.
            self.endpoint.undeliver(delivered)
            raise
        return True

    def _stream(self, sock, request):
        kinds = request.get("kinds")
        if kinds is not None and not (isinstance(kinds, list)
                                      and all(isinstance(k, str) for k in kinds)):
            sock.sendall(wire.encode(wire.error(BadArgs("`kinds` must be a list of strings"))))
            return
        sub, seq = self.endpoint.subscribe(kinds)
        with sub:
            sock.sendall(wire.encode(wire.ok(subscribed=True, seq=seq)))
            while True:
                event = sub.get(timeout=KEEPALIVE_SECONDS)
                if event is None and sub.overflowed:
                    sock.sendall(wire.encode({"kind": "overflow", "v": wire.VERSION}))
                    return
                sock.sendall(wire.encode(event if event else {"kind": "keepalive"}))


def _cmd_of(line):
    try:
        return repr(wire.decode_request(line).get("cmd"))[:40]
    except HiveError:
        return "?"
