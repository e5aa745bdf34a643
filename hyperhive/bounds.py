"""What a caller may send: the bounds of every value, and the checks of what they mean.

The verb table (verbs.py) carries the byte and count bounds to the wire; the
broker's parts check meaning (empty, characters, ranges) with these.
"""

from . import safefs
from .errors import BadArgs

MAX_WAIT = 180
MAX_BATCH = 32
MAX_IDS = 1000                     # message ids in one ack / undeliver
MAX_BODY = 256 * 1024              # bytes of a message
MAX_REMINDER_TEXT = 4096           # bytes of a reminder without a file_path
MAX_QUESTION = 16384               # bytes of a question
MAX_OPTIONS = 32                   # options of one question...
MAX_OPTION = 200                   # ...of at most this many characters each
MAX_ANSWER = 65536                 # bytes of an answer
MAX_STATUS_TEXT = 2000             # bytes of set_status text
MAX_CONFIG_ERROR = 2000            # bytes of why a harness refused its config (report)
MAX_DESCRIPTION = 8192             # bytes of an approval's description or a deny note
MAX_WAKE_LABEL = 64                # characters of a wake label
MAX_DETAIL_KEYS = 16               # notify_manager detail: keys, items of a list value
MAX_DETAIL_ITEMS = 32              # (the harness sends stderr's last 20 lines)...
MAX_DETAIL = 32 * 1024             # ...and bytes of it all as JSON
MAX_SHORT = 256                    # bytes of any other string: names, refs, events, enums
MAX_TTL = 6 * 3600
MAX_DELAY = 366 * 24 * 3600
MAX_REMINDER_PATH = 1024           # bytes of a reminder's file_path
# Resources one agent may hold at once; at the bound the verb answers `conflict`.
MAX_OPEN_QUESTIONS = 20            # questions it asked that are not answered
MAX_PENDING_REMINDERS = 100
MAX_PENDING_APPROVALS = 20         # approvals waiting for the operator (the manager's)
MAX_DRAFTS = 20                    # drafts the manager prepares that have not booted


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
