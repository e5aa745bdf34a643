"""Whether a process's disk is full: a state it is in for a while, logged when it begins
and when it ends, never once per refused write.

The writers (the host's group commit, the harness's events and turn stats) report each
write that failed or went through; whoever shows the state asks `full`. A disk that
nobody writes to is looked at with statvfs when asked, at most every RECHECK_SECONDS,
so the state clears once space is freed even while every writer waits.
"""

import logging
import os
import time

from .errors import is_disk_full

log = logging.getLogger(__name__)

# Free bytes that count as room again; a few pages would fill at the next burst.
ROOM_BYTES = 1 << 20
RECHECK_SECONDS = 5


class DiskState:
    def __init__(self, what, path=None, clock=time.time, on_change=None):
        self.what = what            # how the log names it: "the hive's disk"
        self.path = path            # a dir on that disk, for statvfs; None: writes only
        self.clock = clock
        self.on_change = on_change  # called with snapshot() when it fills and when it clears
        self.full_since = None
        self._checked = 0.0

    @property
    def full(self):
        if self.full_since is not None and self.path is not None \
                and self.clock() - self._checked >= RECHECK_SECONDS:
            self._checked = self.clock()
            if free_bytes(self.path) >= ROOM_BYTES:
                self._clear()
        return self.full_since is not None

    def failed(self, exc):
        """A write failed with `exc`; True when it was for want of space."""
        if not is_disk_full(exc):
            return False
        if self.full_since is None:
            self.full_since = self._checked = self.clock()
            log.error("%s is full: writes are refused until space is freed (%s)", self.what,
                      _reason(exc))
            self._changed()
        return True

    def wrote(self):
        """A write went through: whatever was full has room again."""
        if self.full_since is not None:
            self._clear()

    def _clear(self):
        log.warning("%s has room again after %.0f s: writes go on", self.what,
                    self.clock() - self.full_since)
        self.full_since = None
        self._changed()

    def _changed(self):
        if self.on_change is not None:
            self.on_change({"full": self.full_since is not None, "since": self.full_since})

    def snapshot(self):
        return {"full": self.full, "since": self.full_since}


def free_bytes(path):
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def _reason(exc):
    """The innermost message of the chain: sqlite's or the OS's own words."""
    while (exc.__cause__ or exc.__context__) is not None:
        exc = exc.__cause__ or exc.__context__
    return str(exc)[:200]
