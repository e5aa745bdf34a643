"""Files in trees that agents can write, touched without following an agent's path.

The host and the harness run with more rights than claude (as root, on a real host),
and an agent can plant anything in its own dirs: a symlink to /etc/shadow, a FIFO
that blocks whoever opens it, a directory where a file is expected. So every path
here is relative to a trusted base directory and is walked one component at a time
with O_NOFOLLOW; files are opened non-blocking and must turn out to be regular files;
reads are bounded; writes go to a fresh temporary name and are renamed into place.

Refusals are `Conflict`s (something is in the way on disk) or `BadArgs` (the path
itself is malformed), worded for whoever asked: pass `shown`, the path the reader
knows the base by (e.g. "/state"), and the messages name paths under it.
"""

import errno
import os
import secrets
import stat

from .errors import BadArgs, Conflict

MAX_READ = 1024 * 1024
MAX_PATH = 1024
DIR_MODE = 0o700
FILE_MODE = 0o600
_WALK = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_CREATE = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NONBLOCK
           | os.O_CLOEXEC | os.O_NOCTTY)
_KINDS = ((stat.S_ISLNK, "a symlink"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def parts(rel):
    """The components of a relative path; BadArgs for anything but plain names."""
    if not isinstance(rel, str) or "\0" in rel or len(rel.encode()) > MAX_PATH:
        raise BadArgs(f"a path must be a string of at most {MAX_PATH} bytes with no NUL")
    items = rel.split("/")
    if not rel or any(p in ("", ".", "..") for p in items):
        raise BadArgs(f"{rel[:80]!r} must be a relative path of plain names "
                      "(no leading '/', no '.', '..' or empty parts)")
    return items


def kind(mode):
    """'a symlink', 'a FIFO', … for anything that is not a regular file; None for one."""
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def _shown(shown, items):
    head = [shown.rstrip("/")] if shown else []
    return "/".join(head + list(items))


def _refuse(shown, items, what, why=""):
    raise Conflict(f"{_shown(shown, items)} is {what}{'; ' + why if why else ''}")


def _base_fd(base):
    """A descriptor for `base` (a path, followed: it is ours) or a dup of a given fd."""
    if isinstance(base, int):
        return os.dup(base)
    return os.open(base, _WALK & ~os.O_NOFOLLOW)


def _step(fd, items, i, create, shown, why):
    """Open directory items[i] under fd, never through a link; make it when asked."""
    name = items[i]
    for _ in range(2):
        try:
            return os.open(name, _WALK, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(name, DIR_MODE, dir_fd=fd)
                _adopt_owner(fd, name)
            except FileExistsError:
                pass                           # made meanwhile: open it on the next pass
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            st = os.lstat(name, dir_fd=fd)
            _refuse(shown, items[:i + 1], kind(st.st_mode) or "not a directory", why)
    raise FileNotFoundError(errno.ENOENT, "vanished while being made", name)


def open_dir(base, rel, create=False, shown=None, why=""):
    """A descriptor for the directory `rel` under `base`, no link followed on the way.

    With `create`, missing directories are made (mode 0700, owned like their parent).
    The caller closes the descriptor."""
    items = parts(rel)
    fd = _base_fd(base)
    try:
        for i in range(len(items)):
            nxt = _step(fd, items, i, create, shown, why)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def make_dirs(base, rel, shown=None, why=""):
    """Make the directories of `rel` under `base` that are missing, through no link."""
    os.close(open_dir(base, rel, create=True, shown=shown, why=why))


def _parent(base, rel, create, shown, why):
    """(descriptor of rel's directory, rel's last name, all its parts)."""
    items = parts(rel)
    if len(items) == 1:
        return _base_fd(base), items[0], items
    return open_dir(base, "/".join(items[:-1]), create, shown, why), items[-1], items


def read_bytes(base, rel, limit=MAX_READ, shown=None, why=""):
    """The bytes of the regular file `rel` under `base`; None when it does not exist.

    A link anywhere on the path, a FIFO, a socket, a directory or a file over `limit`
    bytes is refused; nothing here can block."""
    try:
        dir_fd, name, items = _parent(base, rel, False, shown, why)
    except FileNotFoundError:
        return None
    try:
        try:
            st = os.lstat(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        if kind(st.st_mode):                   # never open a FIFO or a device at all
            _refuse(shown, items, kind(st.st_mode), why)
        try:
            fd = os.open(name, _READ, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:       # swapped for a link since the lstat
                _refuse(shown, items, "a symlink", why)
            raise
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if kind(st.st_mode):
            _refuse(shown, items, kind(st.st_mode), why)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            _refuse(shown, items, f"over {limit} bytes", why)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(base, rel, limit=MAX_READ, shown=None, why=""):
    data = read_bytes(base, rel, limit, shown, why)
    return None if data is None else data.decode("utf-8", errors="replace")


def write_bytes(base, rel, data, create_dirs=False, shown=None, why=""):
    """Put `data` at `rel` under `base`: a new file, renamed over a regular file or nothing.

    The new file (mode 0600) and any directory made on the way get the owner of the
    directory they are made in, so an agent owns what lands in its tree. Whatever is
    at `rel` and is not a regular file stays as it is, and the write is refused."""
    dir_fd, name, items = _parent(base, rel, create_dirs, shown, why)
    try:
        _check_target(dir_fd, name, items, shown, why)
        tmp = _write_temp(dir_fd, name, data)
        try:
            _check_target(dir_fd, name, items, shown, why)
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            _unlink_quietly(dir_fd, tmp)
            raise
    finally:
        os.close(dir_fd)


def write_text(base, rel, text, create_dirs=False, shown=None, why=""):
    write_bytes(base, rel, text.encode(), create_dirs, shown, why)


def remove(base, rel):
    """Unlink `rel` under `base` if it is there and is not a directory (links included,
    never followed). True when something was removed."""
    try:
        dir_fd, name, _items = _parent(base, rel, False, None, "")
    except (FileNotFoundError, Conflict):
        return False
    try:
        os.unlink(name, dir_fd=dir_fd)
        return True
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return False
    finally:
        os.close(dir_fd)


def _check_target(dir_fd, name, items, shown, why):
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    if kind(st.st_mode):
        _refuse(shown, items, kind(st.st_mode), why)


def _write_temp(dir_fd, name, data):
    for _ in range(10):
        tmp = f".{name[:200]}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, _CREATE, FILE_MODE, dir_fd=dir_fd)
        except FileExistsError:
            continue
        try:
            _adopt_owner(dir_fd, tmp, fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            os.close(fd)
            _unlink_quietly(dir_fd, tmp)
            raise
        os.close(fd)
        return tmp
    raise Conflict("could not find a free temporary name next to "
                   f"{name!r}; something keeps making them")


def _adopt_owner(dir_fd, name, fd=None):
    """Give what root made in an agent's tree to the owner of that tree."""
    if os.geteuid() != 0:
        return
    parent = os.fstat(dir_fd)
    if fd is not None:
        os.fchown(fd, parent.st_uid, parent.st_gid)
    else:
        os.chown(name, parent.st_uid, parent.st_gid, dir_fd=dir_fd, follow_symlinks=False)


def _unlink_quietly(dir_fd, name):
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass
