"""The wake spool: how a shell that may open no unix socket still wakes its agent.

claude's Bash sandbox keeps unix sockets closed where bubblewrap cannot forbid user
namespaces (inside systemd-nspawn, whose /proc/sys is read-only). There `hyperhive wake`
leaves its message as a file in a spool dir in the agent's state dir and rings a FIFO
beside it; the harness waits on that FIFO, forwards each file to the host as a `wake`
and removes it. Files left while the harness is down are taken when it next starts.

Everything in the spool belongs to the agent: the harness reaches it through directory
descriptors, follows no link, reads regular files of bounded size only, and the host
judges the values as it judges any wake.
"""

import errno
import json
import logging
import os
import re
import secrets
import stat
import time

from . import safefs
from .errors import BadArgs, HiveError, Unavailable

log = logging.getLogger(__name__)

SPOOL_DIR = ".hyperhive-wake"       # in the agent's state dir
BELL = "bell"
# w-<nanoseconds>-<random>.json: sorting the names keeps the wakes in order.
FILE_NAME = re.compile(r"w-[0-9]{19,20}-[0-9a-f]{16}\.json\Z")
MAX_FILE = 256 * 1024 + 4096        # a message body at its bound, its label and JSON
MAX_LISTED = 1000                   # names read from the dir per pass
BATCH = 100                         # wakes forwarded per pass
RETRY_SECONDS = 5                   # after the host answered `unavailable`


# The writer: `hyperhive wake` in a sandboxed shell #############################

def leave(spool, label, body):
    """Leave one wake in `spool` and ring the bell. True when a harness was listening;
    False when it is not running now (it takes the file when it starts)."""
    data = json.dumps({"from": label, "body": body}).encode()
    if len(data) > MAX_FILE:
        raise BadArgs(f"the wake is over the {MAX_FILE}-byte limit of the spool")
    dir_fd = os.open(spool, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        name = f"w-{time.time_ns()}-{secrets.token_hex(8)}.json"
        tmp = "." + name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                     dir_fd=dir_fd)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return _ring(dir_fd)
    finally:
        os.close(dir_fd)


def _ring(dir_fd):
    try:
        fd = os.open(BELL, os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ENOENT):    # no harness reading it now
            return False
        raise
    try:
        os.write(fd, b"\n")
    except BlockingIOError:
        pass                                            # full of rings already
    finally:
        os.close(fd)
    return True


# The reader: the harness ########################################################

class WakeSpool:
    """The harness's side: make the spool and its bell, then forward what arrives."""

    def __init__(self, state_dir, forward):
        self.state_dir = str(state_dir)
        self.path = os.path.join(self.state_dir, SPOOL_DIR)
        self.forward = forward          # request dict -> reply dict, as mcp.sock does
        self._dir_fd = None
        self._bell_fd = None

    def opened(self):
        """Make the spool (owned like the state dir, so claude writes it) and its bell.
        False, said in the log, when the agent has put something else in their way."""
        try:
            self._dir_fd = safefs.open_dir(self.state_dir, SPOOL_DIR, create=True,
                                           shown=self.state_dir, why="the wake spool")
            owner = os.fstat(self._dir_fd)
            self._bell_fd = self._open_bell(owner.st_uid, owner.st_gid)
            return True
        except (HiveError, OSError) as exc:
            log.warning("no wake spool for shells without unix sockets: %s", exc)
            self.close()
            return False

    def _open_bell(self, uid, gid):
        try:
            st = os.lstat(BELL, dir_fd=self._dir_fd)
            if not stat.S_ISFIFO(st.st_mode):
                os.unlink(BELL, dir_fd=self._dir_fd)
                raise FileNotFoundError
        except FileNotFoundError:
            os.mkfifo(BELL, 0o600, dir_fd=self._dir_fd)
            if os.geteuid() == 0:
                os.chown(BELL, uid, gid, dir_fd=self._dir_fd, follow_symlinks=False)
        # Read and write: the harness's own writer end means no end-of-file between rings.
        fd = os.open(BELL, os.O_RDWR | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=self._dir_fd)
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "the wake spool's bell is not a FIFO")
        return fd

    def serve(self):
        """Forward what waits, then sleep until the bell rings; forever."""
        from gevent.socket import wait_read
        while True:
            if self.drain() == "busy":
                time.sleep(RETRY_SECONDS)
                continue
            wait_read(self._bell_fd)
            try:
                while os.read(self._bell_fd, 4096):
                    pass
            except BlockingIOError:
                pass

    def drain(self):
        """Forward up to BATCH waiting wakes, oldest first. "busy" when the host is not
        taking them now, else how many went."""
        tried = set()        # a name that cannot be removed (a directory, say) is tried once
        while True:
            names = [n for n in self._waiting() if n not in tried][:BATCH]
            for name in names:
                if self._take(name) == "busy":
                    return "busy"
                tried.add(name)
            if len(names) < BATCH:
                return len(tried)

    def _waiting(self):
        names = []
        with os.scandir(self._dir_fd) as entries:
            for entry in entries:
                if FILE_NAME.match(entry.name):
                    names.append(entry.name)
                    if len(names) >= MAX_LISTED:
                        break
        return sorted(names)

    def _take(self, name):
        try:
            data = safefs.read_bytes(self._dir_fd, name, limit=MAX_FILE, shown=self.path)
            request = _parse(data)
        except (HiveError, OSError, ValueError) as exc:
            log.warning("dropped %s from the wake spool: %s", name, exc)
            self._remove(name)
            return "dropped"
        if request is None:
            return "gone"
        try:
            reply = self.forward({"cmd": "wake", **request})
        except Unavailable as exc:
            log.warning("the host is not taking wakes now (%s); trying again in %d s",
                        exc, RETRY_SECONDS)
            return "busy"
        except HiveError as exc:
            log.warning("wake from %r in the spool refused: %s", request["from"], exc)
        else:
            log.info("woke myself from the spool: message #%s from %r", reply.get("id"),
                     request["from"])
        self._remove(name)
        return "taken"

    def _remove(self, name):
        try:
            os.unlink(name, dir_fd=self._dir_fd)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                log.warning("could not remove %s from the wake spool: %s", name, exc)

    def close(self):
        for fd in (self._bell_fd, self._dir_fd):
            if fd is not None:
                os.close(fd)
        self._bell_fd = self._dir_fd = None


def _parse(data):
    """The wake a spool file holds; None when the file went away. ValueError when it is
    not one."""
    if data is None:
        return None
    value = json.loads(data)
    if not isinstance(value, dict) or set(value) != {"from", "body"}:
        raise ValueError("not a wake: it must be an object of `from` and `body`")
    return {"from": value["from"], "body": value["body"]}
