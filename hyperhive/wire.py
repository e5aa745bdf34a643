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
is closed. Nesting deeper than MAX_DEPTH, NaN and Infinity are bad_json too:
no value an agent sends can make the parser recurse or a reply unparseable.
`hello` answers on every socket with the role, name and verb list.
A `subscribe` request turns the connection into a one-way event stream.
"""

import re
import time

import orjson

from .errors import BadJson, HiveError, TooLarge

VERSION = 1
MAX_LINE = 1 << 20
# No request needs more than a few levels; 64 is far below where json recurses too deep.
MAX_DEPTH = 64
_CHUNK = 65536
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET = re.compile(rb"[][{}]")


# orjson: a reply is encoded in a fifth of the time the json module takes, and a
# request decoded in a third; it refuses NaN, Infinity and lone surrogates on its own.
_ENCODING = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def encode(obj):
    return orjson.dumps(obj, option=_ENCODING)


def decode_request(line):
    """Parse one request line into a dict with a string `cmd`; raise BadJson."""
    _check_depth(line)
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        if "UTF-8" in exc.msg:
            raise BadJson("the line is not valid UTF-8") from None
        raise BadJson(f"the line is not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise BadJson(f"a request must be a JSON object, not {type(obj).__name__}")
    return obj


def _check_depth(line):
    """Refuse nesting deeper than MAX_DEPTH before the parser recurses into it.

    The count is a C-speed pass and settles every ordinary request; only a line with
    more brackets than the limit gets the walk that skips brackets inside strings.
    """
    if line.count(b"[") + line.count(b"{") <= MAX_DEPTH:
        return
    bare = _STRING.sub(b"", line)
    if bare.count(b"[") + bare.count(b"{") <= MAX_DEPTH:
        return      # the brackets were text inside strings
    depth = 0
    for match in _BRACKET.finditer(bare):
        depth += 1 if match.group() in b"[{" else -1
        if depth > MAX_DEPTH:
            raise BadJson(f"the line nests deeper than {MAX_DEPTH} levels")


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
    `line_started` is the monotonic time the unfinished line in the buffer began
    to arrive (None without one), for a server that cuts lines left half-sent.
    """

    def __init__(self, sock, limit=MAX_LINE):
        self.sock = sock
        self.limit = limit
        self.buf = bytearray()
        self.line_started = None

    def readline(self):
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[:nl])
                del self.buf[:nl + 1]
                self.line_started = None
                if len(line) > self.limit:
                    raise TooLarge(f"line of {len(line)} bytes is over the {self.limit}-byte limit")
                return line
            if len(self.buf) > self.limit:
                raise TooLarge(f"line is over the {self.limit}-byte limit")
            if self.buf and self.line_started is None:
                self.line_started = time.monotonic()
            chunk = self.sock.recv(_CHUNK)
            if not chunk:
                # A half line before EOF is dropped: it was never a whole request.
                return None
            self.buf += chunk
