"""The exception tree, and the one table that maps it onto wire error codes.

Everything below the adapters raises these; the socket server, the web apps and
the MCP tools translate them once, at their boundary.
"""

import errno


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


class DiskFull(Unavailable):
    """A write the disk had no room for: a state the hive is in, not a bug."""

    def __init__(self, message=None):
        super().__init__(message or DISK_FULL)


DISK_FULL = "the hive's disk is full: nothing was changed; try again once space is freed"
_SQLITE_FULL = 13
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc):
    """Whether `exc`, or an exception it was raised while handling, says the disk is full.

    sqlite says SQLITE_FULL, the OS says ENOSPC (or EDQUOT). The chain is walked because
    a failed COMMIT reaches us as peewee's own error, or as the ROLLBACK that followed it.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DiskFull):
            return True
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            return True
        code = getattr(exc, "sqlite_errorcode", None)
        if (code is not None and code & 0xFF == _SQLITE_FULL) \
                or "database or disk is full" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


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
