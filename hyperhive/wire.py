"""hyperhive wire protocol, version 1 (SPEC §3).

Framing: newline-delimited JSON over unix stream sockets, UTF-8, one object per
line, at most MAX_LINE bytes per line. A connection carries many requests in
sequence; each request gets exactly one reply line, written with one sendall().

    request  {"cmd": "send", "to": "alice", "body": "hi"}
    reply    {"ok": true, "v": 1, "id": 17}
             {"ok": false, "v": 1, "error": "<sentence>", "code": "<code>"}

Codes: bad_json, too_large, unknown_cmd, bad_args, not_found, forbidden,
conflict, unavailable, internal. A malformed line gets bad_json and the
connection stays usable; a line over MAX_LINE gets too_large and the connection
is closed. `hello` answers on every socket with the role, name and verb list.
A `subscribe` request turns the connection into a one-way event stream.
"""

import json

from .errors import BadJson, HiveError, TooLarge

VERSION = 1
MAX_LINE = 1 << 20
_CHUNK = 65536


def encode(obj):
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def decode_request(line):
    """Parse one request line into a dict with a string `cmd`; raise BadJson."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadJson("the line is not valid UTF-8") from None
    except ValueError as exc:
        raise BadJson(f"the line is not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise BadJson(f"a request must be a JSON object, not {type(obj).__name__}")
    return obj


def ok(**fields):
    return {"ok": True, "v": VERSION, **fields}


def error(exc):
    if isinstance(exc, HiveError):
        return {"ok": False, "v": VERSION, "error": exc.message, "code": exc.code}
    return {"ok": False, "v": VERSION, "error": "internal error in hyperhive; see the journal",
            "code": "internal"}


class LineReader:
    """Reads lines from a socket with a hard size limit.

    readline() returns bytes without the newline, None at a clean EOF, and raises
    TooLarge once a line passes MAX_LINE (the caller then closes the connection,
    so the rest of the oversized line is never parsed as a request).
    """

    def __init__(self, sock, limit=MAX_LINE):
        self.sock = sock
        self.limit = limit
        self.buf = bytearray()

    def readline(self):
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[:nl])
                del self.buf[:nl + 1]
                if len(line) > self.limit:
                    raise TooLarge(f"line of {len(line)} bytes is over the {self.limit}-byte limit")
                return line
            if len(self.buf) > self.limit:
                raise TooLarge(f"line is over the {self.limit}-byte limit")
            chunk = self.sock.recv(_CHUNK)
            if not chunk:
                # A half line before EOF is dropped: it was never a whole request.
                return None
            self.buf += chunk
