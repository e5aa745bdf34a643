"""Logging to journald (stderr where none answers), sd_notify and reading an agent's journal.

Every record carries SYSLOG_IDENTIFIER=hyperhive, PRIORITY, CODE_FILE/LINE/FUNC, LOGGER,
HIVE_ROLE, HIVE_AGENT (when known) and any uppercase `extra=` field (HIVE_EVENT, HIVE_OUTCOME,
...). Records are written in journald's native datagram format on a non-blocking socket, so a
stalled journald costs dropped records, never a stalled process (libsystemd's sd_journal_send
blocks in C, which would freeze every greenlet). Where the socket is missing or refuses, or
HYPERHIVE_LOG=stderr, the same records go to stderr as one line each:

    2025-01-02 03:04:05,678 INFO agent/alice hyperhive.agent: turn done event=turn_end outcome=ok

Nothing here ever writes to stdout: in the `mcp` role stdout is the protocol.

sd_notify goes through the sdnotify package. An agent's journal is read with systemd-python's
Reader (the dashboard's panel), or by journalctl itself from a query (`ctl logs`): where the
agent is a machine with a journal of its own, `-M`; else its fields in the host's journal.
"""

import errno
import json
import logging
import os
import re
import socket
import struct
import sys
import threading
import time

import sdnotify

JOURNAL_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "hyperhive"
ROLES = ("host", "agent", "manager", "mcp", "ctl", "wake")
AGENT_NAME = re.compile(r"[a-z][a-z0-9-]{0,8}")
MACHINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_LINES = 5000

# journald's rule for caller-supplied field names.
_FIELD = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
# Entries bigger than the socket buffer fail with EMSGSIZE; they are cut to this and resent.
_CUT = 32 * 1024
_RETRY_AFTER = 30.0

_handler = None
_agent = None


# Logging ######################################################################

def setup_logging(role, settings, agent=None, level=logging.INFO, stream=None,
                  socket_path=JOURNAL_SOCKET):
    """Send every record of this process to journald, or to `stream` (stderr) if none answers
    or `settings.log_target` is stderr.

    Calling it again replaces the handler it installed before. Returns "journal" or "stderr".
    """
    global _handler, _agent
    if role not in ROLES:
        raise ValueError("unknown role %r (expected one of %s)" % (role, ", ".join(ROLES)))
    if agent is not None:
        _agent = agent
    sink = None
    if settings.log_target != "stderr":
        sink = _Journal(socket_path)
        if not sink.connect():
            sink = None
    handler = _Handler(role, sink, stream if stream is not None else sys.stderr,
                       settings.journal_stream)
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
        _handler.close()
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler
    logging.captureWarnings(True)
    return "journal" if sink else "stderr"


def set_agent(name):
    """Set the default HIVE_AGENT; a record's own `extra={"HIVE_AGENT": ...}` still wins."""
    global _agent
    _agent = name


def event(logger, name, message, level=logging.INFO, **fields):
    """Log `message` with HIVE_EVENT=name; `outcome="ok"` or HIVE_OUTCOME="ok" both become
    HIVE_OUTCOME (on stderr: outcome=ok)."""
    extra = {"HIVE_EVENT": name}
    for key, value in fields.items():
        key = re.sub(r"[^A-Z0-9_]", "_", key.upper())
        if not key.startswith("HIVE_"):
            key = "HIVE_" + key
        extra[key[:64]] = value
    logger.log(level, message, extra=extra, stacklevel=2)


def _priority(levelno):
    # Same mapping as systemd.journal.JournalHandler: levels between two names round up.
    for limit, priority in ((logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4),
                            (logging.ERROR, 3), (logging.CRITICAL, 2)):
        if levelno <= limit:
            return priority
    return 1


def _encode(fields):
    """journald's native format: KEY=value lines; a value holding a newline is sent as KEY,
    newline, its length as 64-bit little-endian, the bytes, newline."""
    parts = []
    for key, value in fields.items():
        data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
        if b"\n" in data:
            parts.append(b"%s\n%s%s\n" % (key.encode(), struct.pack("<Q", len(data)), data))
        else:
            parts.append(b"%s=%s\n" % (key.encode(), data))
    return b"".join(parts)


def _cut(value):
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= _CUT else text[:_CUT] + "\n[cut]"


class _Journal:
    """A connected, non-blocking datagram socket to journald."""

    def __init__(self, path):
        self.path = path
        self.sock = None
        self.dropped = 0
        self.retry_at = 0.0

    def connect(self):
        # connect() on a datagram socket is the probe: it fails with ENOENT or ECONNREFUSED
        # unless something is bound to the path, and it puts nothing into the journal.
        self.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(self.path)
            sock.setblocking(False)
        except OSError:
            sock.close()
            self.retry_at = time.monotonic() + _RETRY_AFTER
            return False
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        except OSError:
            pass
        self.sock = sock
        return True

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, fields):
        """Deliver or drop one entry. False means journald is gone (checked again after
        _RETRY_AFTER seconds)."""
        if self.sock is None and (time.monotonic() < self.retry_at or not self.connect()):
            return False
        sent = self._put(fields)
        if sent is None:
            # A restarted journald is bound to a new socket at the same path.
            sent = self._put(fields) if self.connect() else None
            if sent is None:
                self.close()
                self.retry_at = time.monotonic() + _RETRY_AFTER
                return False
        if not sent:
            self.dropped += 1
        elif self.dropped:
            note = {"MESSAGE": "journald was busy: dropped %d log records" % self.dropped,
                    "PRIORITY": 4, "SYSLOG_IDENTIFIER": IDENTIFIER,
                    "HIVE_ROLE": fields.get("HIVE_ROLE", "")}
            if self._put(note):
                self.dropped = 0
        return True

    def _put(self, fields):
        """True if sent, False if dropped because journald is busy, None if it is gone."""
        try:
            self.sock.send(_encode(fields))
            return True
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno != errno.EMSGSIZE:
                return None
        try:
            self.sock.send(_encode({key: _cut(value) for key, value in fields.items()}))
            return True
        except BlockingIOError:
            return False
        except OSError as exc:
            return False if exc.errno == errno.EMSGSIZE else None


# Shown as role/agent, or not at all, in a stderr line.
_LINE_SKIP = frozenset(("MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "HIVE_ROLE", "HIVE_AGENT",
                        "LOGGER", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "EXCEPTION_TEXT"))


class _Handler(logging.Handler):
    """Turns a record into journal fields, then sends them to journald or writes one line."""

    def __init__(self, role, journal, stream, journal_stream=None):
        super().__init__()
        self.role = role
        self.journal = journal
        self.stream = stream
        self.lost = False
        self.clock = logging.Formatter()
        self.journal_stream = _is_journal_stream(stream, journal_stream)

    def emit(self, record):
        try:
            fields = self.fields(record)
            if self.journal is not None:
                if self.journal.send(fields):
                    self.lost = False
                    return
                if not self.lost:
                    self.lost = True
                    self.write(record, 4, "WARNING", fields,
                               "journald stopped answering; logging to stderr", "")
            pairs = "".join(" %s=%s" % (key[5:].lower() if key.startswith("HIVE_")
                                        else key.lower(), _quote(value))
                            for key, value in fields.items() if key not in _LINE_SKIP)
            text = record.getMessage() + pairs
            if record.exc_text:
                text += "\n" + record.exc_text
            self.write(record, fields["PRIORITY"], record.levelname, fields, text, record.name)
        except Exception:
            # Never raise and never print a traceback per record (logging.Handler.handleError
            # does): a logging failure must not take the program down or flood stderr.
            pass

    def fields(self, record):
        fields = {
            "MESSAGE": self.format(record),
            "PRIORITY": _priority(record.levelno),
            "SYSLOG_IDENTIFIER": IDENTIFIER,
            "HIVE_ROLE": self.role,
            "LOGGER": record.name,
            "CODE_FILE": record.pathname,
            "CODE_LINE": record.lineno,
            "CODE_FUNC": record.funcName,
        }
        if _agent:
            fields["HIVE_AGENT"] = _agent
        if record.exc_text:
            fields["EXCEPTION_TEXT"] = record.exc_text
        for key, value in record.__dict__.items():
            if value is not None and _FIELD.fullmatch(key):
                fields[key] = value
        return fields

    def write(self, record, priority, levelname, fields, text, name):
        who = fields["HIVE_ROLE"]
        if fields.get("HIVE_AGENT"):
            who += "/%s" % fields["HIVE_AGENT"]
        line = "%s %s %s%s" % (levelname, who, name + ": " if name else "", text)
        if self.journal_stream:
            # stderr is already a journal stream: "<N>" gives the line its priority and
            # journald adds the time.
            line = "<%d>%s" % (priority, line)
        else:
            line = "%s %s" % (self.clock.formatTime(record), line)
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except Exception:
            pass

    def close(self):
        if self.journal is not None:
            self.journal.close()
        super().close()


def _quote(value):
    text = str(value)
    if text and not re.search(r'[\s"\'=\\]', text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _is_journal_stream(stream, journal_stream):
    """True if `stream` is the journal stream systemd connected us to (`journal_stream`,
    JOURNAL_STREAM's device:inode)."""
    try:
        dev, ino = (int(part) for part in journal_stream.split(":"))
        st = os.fstat(stream.fileno())
        return (st.st_dev, st.st_ino) == (dev, ino)
    except Exception:
        return False


# sd_notify ####################################################################

def notify(settings, *assignments):
    """Send "KEY=value" assignments to the service manager; True if sent. A no-op outside a
    Type=notify service (no `settings.notify_socket`), and it never raises."""
    addr = settings.notify_socket or ""
    if not assignments or not addr or addr[0] not in "/@":
        return False
    # debug=True: sdnotify raises instead of swallowing, so a failed send reads as False.
    try:
        notifier = sdnotify.SystemdNotifier(debug=True)
    except Exception:
        return False
    try:
        # A full queue must cost a lost ping, not a stalled host.
        notifier.socket.settimeout(1.0)
        notifier.notify("\n".join(assignments))
        return True
    except Exception:
        return False
    finally:
        notifier.socket.close()


def start_watchdog(settings):
    """Send WATCHDOG=1 every WATCHDOG_USEC/2 if systemd asks this process for it.
    Returns a callable that stops the pings."""
    usec, pid = settings.watchdog_usec, settings.watchdog_pid
    if not usec or (pid is not None and pid != os.getpid()):
        return lambda: None
    interval = usec / 2e6
    stop = threading.Event()

    def ping():
        while True:
            notify(settings, "WATCHDOG=1")
            if stop.wait(interval):
                return

    # Under gevent's monkey patching this thread is a greenlet; either way it only sleeps.
    thread = threading.Thread(target=ping, name="sd-watchdog", daemon=True)
    thread.start()

    def cancel():
        stop.set()
        if thread is not threading.current_thread():
            thread.join(1.0)
    return cancel


# Reading ######################################################################

# Longest message text a read returns per record: records are an agent's to write.
MAX_MESSAGE = 4096
_MATCH = re.compile(r"[A-Z_][A-Z0-9_]{0,63}=[^\n]{0,512}")


def agent_matches(agent):
    """The fields that pick one agent's records out of a journal shared with others."""
    if not isinstance(agent, str) or not AGENT_NAME.fullmatch(agent):
        raise ValueError("invalid agent name %r" % (agent,))
    return ["SYSLOG_IDENTIFIER=" + IDENTIFIER, "HIVE_AGENT=" + agent]


# The roles that write on an agent's side; the host's own records about an agent
# (HIVE_ROLE=host) stay the operator's.
AGENT_SIDE = ("agent", "manager", "mcp", "wake")


def agent_side(query, uids=None):
    """A checked query narrowed to the records an agent's own side wrote. Matches on one
    field are alternatives, on different fields all required: the agent's fields AND one
    of these roles AND (given `uids`) written by one of those uids, so that one agent
    cannot put records on another's side by setting its fields."""
    query = check_query(query)
    own = [f"_UID={int(uid)}" for uid in uids or ()]
    return check_query({**query, "matches": query["matches"] + own
                        + ["HIVE_ROLE=" + r for r in AGENT_SIDE]})


def last_bytes(lines, max_bytes):
    """(text, cut): the newest of `lines` that fit `max_bytes` of UTF-8 joined by newlines;
    `cut` says older lines were left out."""
    kept, size = [], 0
    for line in reversed(lines):
        size += len(line.encode("utf-8", "replace")) + 1
        if size > max_bytes:
            break
        kept.append(line)
    return "\n".join(reversed(kept)), len(kept) < len(lines)


def check_query(query):
    """A journal query as a plain dict, or ValueError. Every part becomes an argument of
    journalctl, so none may pass for an option:

    machine    a registered machine whose own journal this is (journalctl -M), or None
    directory  where the journal files are (journalctl -D, Reader(path=)); None: the system's
    matches    FIELD=value terms a record must all have
    """
    if not isinstance(query, dict):
        raise ValueError("a journal query is an object")
    machine, directory = query.get("machine"), query.get("directory")
    matches = query.get("matches") or []
    if machine is not None and not (isinstance(machine, str) and MACHINE_NAME.fullmatch(machine)):
        raise ValueError("invalid machine name %r" % (machine,))
    if directory is not None and not (isinstance(directory, str) and directory.startswith("/")
                                      and "\0" not in directory and "\n" not in directory):
        raise ValueError("a journal directory must be an absolute path, not %r" % (directory,))
    if not isinstance(matches, list) or len(matches) > 8 or not all(
            isinstance(m, str) and _MATCH.fullmatch(m) for m in matches):
        raise ValueError("journal matches must be a short list of FIELD=value")
    return {"machine": machine, "directory": directory, "matches": list(matches)}


def journalctl_argv(query, lines=None, follow=False, journalctl="journalctl"):
    """journalctl's command line for a query: -M for a machine's own journal, else -D when
    the query names a directory; then -n, -f and the matches."""
    query = check_query(query)
    argv = [journalctl]
    if query["machine"]:
        argv += ["-M", query["machine"]]
    elif query["directory"]:
        argv += ["-D", query["directory"]]
    if lines is not None:
        argv += ["-n", str(int(lines))]
    if follow:
        argv.append("-f")
    return argv + query["matches"]


def open_reader(directory=None):
    """A systemd.journal.Reader on `directory`, or on this machine's journal."""
    from systemd import journal as sd_journal
    if directory is None:
        return sd_journal.Reader()
    return sd_journal.Reader(path=directory)


def read_journal(query, lines=200):
    """The last `lines` (at most MAX_LINES) records a query picks, oldest first, as
    journalctl's short-iso lines.

    Read with systemd.journal.Reader from the query's directory, or this machine's journal.
    If the journal cannot be read, the list holds one line saying why.
    """
    query = check_query(query)
    count = max(1, min(int(lines), MAX_LINES))
    where = " in %s" % query["directory"] if query["directory"] else ""
    try:
        reader = open_reader(query["directory"])
    except Exception as exc:
        return ["hyperhive: cannot open the journal%s: %s" % (where, _why(exc))]
    try:
        reader.data_threshold = 4 * MAX_MESSAGE
        for match in query["matches"]:
            reader.add_match(match)
        reader.seek_tail()
        entries = []
        while len(entries) < count:
            entry = reader.get_previous()
            if not entry:
                break
            entries.append(entry)
    except Exception as exc:
        return ["hyperhive: cannot read the journal%s: %s" % (where, _why(exc))]
    finally:
        reader.close()
    return [line for entry in reversed(entries) for line in short_iso(entry)]


def _why(exc):
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def short_iso(entry):
    """One Reader entry as journalctl -o short-iso shows it (continuation lines indented)."""
    when = entry.get("__REALTIME_TIMESTAMP")
    stamp = when.astimezone().isoformat(timespec="seconds") if hasattr(when, "astimezone") \
        else "-"
    who = _text(entry.get("SYSLOG_IDENTIFIER") or entry.get("_COMM") or "?")
    pid = entry.get("SYSLOG_PID") or entry.get("_PID")
    head = "%s %s %s%s: " % (stamp, _text(entry.get("_HOSTNAME", "")), who,
                             "[%s]" % _text(pid) if pid else "")
    message = _text(entry.get("MESSAGE", ""))
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + " [cut]"
    first, *rest = message.split("\n")
    return [head + first] + [" " * len(head) + line for line in rest]


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
