"""Checks of what a value means, beyond its size on the wire: empty text, a reminder's
path, a wake's label. The broker's parts call them; `hyperhive wake` asks check_wake
too before it leaves a message in the spool.
"""

from . import safefs
from .bounds import MAX_BODY, MAX_REMINDER_PATH, MAX_WAKE_LABEL
from .errors import BadArgs


def reminder_path(file_path):
    """The part of a reminder's `file_path` under /state/; BadArgs for any other shape."""
    if (not isinstance(file_path, str) or not file_path.startswith("/state/")
            or len(file_path.encode()) > MAX_REMINDER_PATH):
        raise BadArgs(f"`file_path` must be a path under /state/ of at most "
                      f"{MAX_REMINDER_PATH} bytes")
    try:
        return "/".join(safefs.parts(file_path[len("/state/"):]))
    except BadArgs:
        raise BadArgs("`file_path` must be a plain path under /state/: no '..', '.', "
                      "empty parts or NUL") from None


def text(value, what, limit=MAX_BODY, empty_ok=False):
    if not isinstance(value, str):
        raise BadArgs(f"{what} must be a string")
    if not empty_ok and not value.strip():
        raise BadArgs(f"{what} must not be empty")
    if len(value.encode()) > limit:
        raise BadArgs(f"{what} is over the {limit}-byte limit")
    return value


def check_wake(label, body):
    """What a wake may carry; `hyperhive wake` asks it too before it leaves one in the spool."""
    text(body, "body")
    if not isinstance(label, str) or not 0 < len(label) <= MAX_WAKE_LABEL \
            or not label.isprintable():
        raise BadArgs(f"`from` must be a label of 1 to {MAX_WAKE_LABEL} printable "
                      "characters (no newlines), such as 'ci: build'")
