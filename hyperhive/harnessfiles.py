"""The harness's own small files, in its harness dir, where claude cannot write."""

import logging
import os
import shutil
import stat

log = logging.getLogger(__name__)

HARNESS_FILES = ("hyperhive-events.sqlite", "hyperhive-turn-stats.sqlite", "hyperhive-model",
                 "hyperhive-session", "hyperhive-nap")


class HarnessFiles:
    """One-line values (the model, the session id, the nap's end) that outlive a restart."""

    def __init__(self, harness_dir, disk):
        self.dir = harness_dir
        self.disk = disk

    def read(self, name):
        try:
            return (self.dir / name).read_text().strip() or None
        except OSError:
            return None

    def read_float(self, name):
        text = self.read(name)
        try:
            return float(text) if text else None
        except ValueError:
            return None

    def write(self, name, value):
        """Write (or, for None, remove) one value; a full disk is logged once, not raised."""
        path = self.dir / name
        if value is None:
            path.unlink(missing_ok=True)
            return
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(f"{value}\n")
            os.replace(tmp, path)
        except OSError as exc:
            # The value lives on in memory; on a full disk the next start forgets it.
            tmp.unlink(missing_ok=True)
            if not self.disk.failed(exc):
                raise
            return
        self.disk.wrote()


def move_harness_files(state_dir, harness_dir):
    """Once: bring the harness's files from the state dir (where they used to live) home.

    Only on the harness's first start with a harness dir: after that whatever claude
    leaves in its state dir under those names is its own business. The state dir is
    claude's, so what is found there is moved first and judged after, in the harness
    dir where claude cannot swap it: anything but a plain file is dropped.
    """
    marker = harness_dir / ".moved-from-state"
    if marker.exists():
        return
    for name in HARNESS_FILES:
        for suffix in ("", "-wal", "-shm"):
            old, new = state_dir / (name + suffix), harness_dir / (name + suffix)
            if new.exists() or new.is_symlink() or not old.is_file() or old.is_symlink():
                continue
            try:
                shutil.move(old, new)     # copyfile refuses a FIFO swapped in meanwhile
                st = os.lstat(new)
                if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                    new.unlink()
                    continue
                os.chown(new, os.geteuid(), os.getegid())
                os.chmod(new, 0o600)
            except OSError as exc:
                log.warning("could not move %s to the harness dir: %s", old, exc)
    marker.touch()
