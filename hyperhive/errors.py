"""The exception tree, and the one table that maps it onto wire error codes.

Everything below the adapters raises these; the socket server, the web apps and
the MCP tools translate them once, at their boundary.
"""


class HiveError(Exception):
    """Base class. `code` is the wire error code (SPEC §3)."""

    code = "internal"

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class BadJson(HiveError):
    code = "bad_json"


class TooLarge(HiveError):
    code = "too_large"


class UnknownCmd(HiveError):
    code = "unknown_cmd"


class BadArgs(HiveError):
    code = "bad_args"


class NotFound(HiveError):
    code = "not_found"


class Forbidden(HiveError):
    code = "forbidden"


class Conflict(HiveError):
    code = "conflict"


class Unavailable(HiveError):
    code = "unavailable"


def from_code(code, message):
    """The exception for a wire error reply (used where replies are passed on)."""
    for cls in (BadJson, TooLarge, UnknownCmd, BadArgs, NotFound, Forbidden, Conflict,
                Unavailable):
        if cls.code == code:
            return cls(message)
    return HiveError(message)


CODES = ("bad_json", "too_large", "unknown_cmd", "bad_args", "not_found",
         "forbidden", "conflict", "unavailable", "internal")

# HTTP status for each wire code, used by the web adapters.
HTTP_STATUS = {
    "bad_json": 400, "too_large": 413, "unknown_cmd": 404, "bad_args": 400,
    "not_found": 404, "forbidden": 403, "conflict": 409, "unavailable": 503,
    "internal": 500,
}
