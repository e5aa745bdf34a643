"""`hyperhive wake --from LABEL --body TEXT|-`: put a message into this agent's own inbox.

For shell scripts inside the container (a finished build, a webhook, a cron job):

    make test 2>&1 | tail -20 | hyperhive wake --from "ci: build" --body -

The request `{"cmd":"wake","from":LABEL,"body":TEXT}` goes to the harness socket
(`$HYPERHIVE_SOCK`, else `<hive-dir>/mcp.sock`), which forwards it to the host.
Exit status: 0 stored (stdout: `stored as message #N`), 1 refused by the hive
(stderr: its sentence, e.g. for an empty body), 2 nothing answered on the socket.
Connect and IO failures are retried for up to a minute unless --no-retry.

A shell that may open no unix socket at all (claude's Bash sandbox inside a container)
leaves the message in the wake spool instead (`$HYPERHIVE_WAKE_SPOOL`, see wakespool.py);
the harness stores it as soon as it sees it, and this prints where it was left.
"""

import logging
import os
import socket
import sys

from . import journal, wakespool
from .client import Client, RemoteError
from .errors import HiveError

log = logging.getLogger(__name__)

TIMEOUT = 30


def read_body(body, stdin=None):
    """The message text; `-` reads all of stdin, minus the trailing newlines a pipe adds."""
    if body != "-":
        return body
    stdin = sys.stdin if stdin is None else stdin
    data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read()
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return data.rstrip("\n")


def may_open_unix_sockets():
    """False in a sandbox whose seccomp filter refuses them: no retry would help there."""
    try:
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
        return True
    except PermissionError:
        return False


def leave_in_spool(spool, label, body):
    """A shell that may open no unix socket leaves its wake where the harness looks."""
    if not spool:
        print("hyperhive wake: this shell may not open unix sockets and has no "
              "HYPERHIVE_WAKE_SPOOL to leave the message in", file=sys.stderr)
        return 2
    from .checks import check_wake
    try:
        check_wake(label, body)
        listening = wakespool.leave(spool, label, body)
    except HiveError as exc:
        print(f"hyperhive wake: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"hyperhive wake: could not leave the message in {spool}: {exc}",
              file=sys.stderr)
        return 2
    print(f"left for the harness in {spool}"
          + ("" if listening else " (it is not running now; it takes it when it starts)"))
    return 0


def run(args, settings):
    # Messages for the script go to stderr; the journal gets records only when there is one.
    to_journal = journal.setup_logging("wake", settings) == "journal"
    path = settings.sock or os.path.join(settings.hive_dir, "mcp.sock")
    body = read_body(args.body)
    if not may_open_unix_sockets():
        return leave_in_spool(settings.wake_spool, args.sender, body)
    client = Client(path, timeout=TIMEOUT)
    try:
        if getattr(args, "no_retry", False):
            reply = client.call("wake", **{"from": args.sender, "body": body})
        else:
            reply, _ = client.call_retrying("wake", **{"from": args.sender, "body": body})
    except RemoteError as exc:
        if to_journal:
            log.warning("wake from %r refused: %s", args.sender, exc)
        print(f"hyperhive wake: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        if not os.path.exists(path):
            why = f"there is no socket at {path}"
        else:
            why = f"nothing answered on {path} ({exc})"
        print(f"hyperhive wake: {why}; is the agent's harness running?", file=sys.stderr)
        return 2
    if to_journal:
        log.info("woke myself: message #%s from %r", reply.get("id"), args.sender)
    print(f"stored as message #{reply.get('id')}")
    return 0
