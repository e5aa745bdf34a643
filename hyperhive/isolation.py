"""Who runs as whom: the uids that keep an agent's claude away from the rest of the hive.

A host running as root gives each agent one slot, allocated once and kept in the
database until the agent is purged. The slot names the agent's own uid (process
backend: claude runs as it) and its own 65536-uid range (nspawn and nixos: the
container's user namespace maps its uid 0 there).

The numbers sit in 0x70000000-0x7FFDFFFF, which systemd leaves unassigned
(https://systemd.io/UIDS-GIDS/): clear of system and regular users (below
65536), of systemd's dynamic users and of the ranges `--private-users=pick`
hands out (0x00080000-0x6FFFFFFF). They need no passwd entry.
"""

import ctypes
import fcntl
import os
import signal
import stat

SLOTS = 4000                     # agents one host can hold with separate uids
AGENT_UID_BASE = 0x70000000      # slot n runs claude as uid/gid AGENT_UID_BASE + n
USERNS_BASE = 0x70010000         # slot n's container root is USERNS_BASE + n * USERNS_SIZE
USERNS_SIZE = 0x10000
CONTAINER_CLAUDE_UID = 1000      # inside a container, claude runs as this uid and gid
# Machine-wide, whatever a host's --root: which running host holds which slot.
CLAIM_DIR = "/run/hyperhive-slots"


def isolated():
    """Agents get uids of their own only when the host can hand them out."""
    return os.geteuid() == 0


def agent_uid(slot):
    return AGENT_UID_BASE + slot


def userns_base(slot):
    return USERNS_BASE + slot * USERNS_SIZE


class SlotClaims:
    """The slots this host holds on this machine, one flock'd file each in CLAIM_DIR.

    Every hive numbers its slots from 0, and stopping an agent ends every process of
    its uid: two hives running on one machine (a test host beside another, say) must
    never run agents on the same slot. A running host holds a lock on each slot it
    uses; the kernel drops them when it exits, so nothing is left to clean up."""

    def __init__(self, directory=CLAIM_DIR):
        self.directory = directory
        self._held = {}                  # slot -> the descriptor its lock lives on

    def claim(self, slot):
        """True when this host holds `slot` now (or already did); False when another
        running host does."""
        if slot in self._held:
            return True
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.directory, str(slot)),
                     os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._held[slot] = fd
        return True

    def release(self, slot):
        fd = self._held.pop(slot, None)
        if fd is not None:
            os.close(fd)


def setpriv_argv(uid, gid):
    """The prefix that drops a command to uid:gid with no supplementary groups."""
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]


def parse_ids(text):
    """'UID:GID' -> (uid, gid); ValueError with a sentence otherwise."""
    try:
        uid, gid = (int(part) for part in text.split(":"))
    except (AttributeError, ValueError):
        raise ValueError(f"--claude-ids wants UID:GID, not {text!r}") from None
    if not (0 < uid < 2**32 - 1 and 0 < gid < 2**32 - 1):
        raise ValueError("--claude-ids must name an unprivileged uid and gid")
    return uid, gid


def give(path, uid, gid, mode):
    """Make `path` uid:gid with `mode`; when it was someone else's, everything under it too.

    The walk goes by directory descriptors and never follows a symlink, so an agent
    that swaps a directory for a link while it runs cannot steer a chown elsewhere.
    """
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise OSError(f"{path} is not a directory")
    if (st.st_uid, st.st_gid) != (uid, gid):
        for _root, dirs, files, dirfd in os.fwalk(path, follow_symlinks=False):
            for name in dirs + files:
                os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)
        os.chown(path, uid, gid, follow_symlinks=False)
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)


_PR_SET_PDEATHSIG = 1


def die_with_parent():
    """Get SIGTERM when the parent dies, even by SIGKILL (in a forked child, or in a
    process that changed its uid since: that clears the setting).

    Without it a killed host would leave its agents running, and the restarted
    host would start a second harness on the same inbox; a killed harness would
    leave its warm MCP server behind.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
