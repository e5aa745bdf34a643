"""Blocking wire client (ctl, wake, the MCP server, and the harness's host link).

Works the same with or without gevent's monkey patching. `Client.call` raises
RemoteError for `ok: false` replies; `call_retrying` also rides out a host or
harness restart with 2, 4, 8, 16, 30 s back-offs inside a 60 s budget and
reports how many retries it needed.
"""

import json
import socket
import time

from . import wire

BACKOFFS = (2, 4, 8, 16, 30)
BUDGET = 60


class RemoteError(Exception):
    def __init__(self, reply):
        super().__init__(reply.get("error", "error"))
        self.code = reply.get("code", "internal")
        self.reply = reply


class Client:
    def __init__(self, path, timeout=None):
        self.path = str(path)
        self.timeout = timeout

    def request(self, obj, timeout=None):
        """One connection, one request, one reply (a dict, ok or not)."""
        with self.connect(timeout) as sock:
            sock.sendall(wire.encode(obj))
            line = wire.LineReader(sock, limit=64 << 20).readline()
        if line is None:
            raise ConnectionError("the server closed the connection without replying")
        return json.loads(line)

    def connect(self, timeout=None):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout if timeout is not None else self.timeout)
            sock.connect(self.path)
        except BaseException:
            sock.close()
            raise
        return sock

    def call(self, cmd, timeout=None, **fields):
        reply = self.request({"cmd": cmd, **fields}, timeout)
        if not reply.get("ok"):
            raise RemoteError(reply)
        return reply

    def call_retrying(self, cmd, timeout=None, sleep=time.sleep, **fields):
        """call() that retries connect and IO failures; returns (reply, retries)."""
        started = time.monotonic()
        retries = 0
        for delay in (*BACKOFFS, None):
            try:
                return self.call(cmd, timeout=timeout, **fields), retries
            except (OSError, ConnectionError, ValueError):
                spent = time.monotonic() - started
                if delay is None or spent + delay > BUDGET:
                    raise
            sleep(delay)
            retries += 1
        raise AssertionError("unreachable")

    def stream(self, obj):
        """Send one request and yield every line that comes back (for `subscribe`)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
            sock.sendall(wire.encode(obj))
            reader = wire.LineReader(sock, limit=64 << 20)
            while True:
                line = reader.readline()
                if line is None:
                    return
                yield json.loads(line)
        finally:
            sock.close()
