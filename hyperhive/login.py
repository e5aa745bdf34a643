"""Claude credentials: are there any, wait until there are, and the login flow.

The login flow runs `claude auth login` (or HYPERHIVE_LOGIN_CMD) over plain
pipes, shows the first URL it prints, and writes the code the operator pastes
to its stdin. Waiting for credentials uses inotify on the claude dir, so a
login finished anywhere (the page, a shell, a copied file) wakes the harness.
"""

import ctypes
import logging
import os
import re
import subprocess
import threading
from pathlib import Path

from gevent import select as gselect

from .errors import Conflict

log = logging.getLogger(__name__)

URL_RE = re.compile(r"https?://[^\s\"'<>]+")
CREDENTIAL_FILES = (".credentials.json",)
_IN_CREATE, _IN_MOVED_TO, _IN_CLOSE_WRITE = 0x100, 0x80, 0x8


def claude_dir(environ):
    """Claude's config dir in the environment `environ` (the harness's, which claude's
    is built from)."""
    configured = environ.get("CLAUDE_CONFIG_DIR")
    return Path(configured) if configured else Path.home() / ".claude"


def has_credentials(environ):
    if environ.get("ANTHROPIC_API_KEY") or environ.get("CLAUDE_CODE_OAUTH_TOKEN"):
        return True
    return any((claude_dir(environ) / f).is_file() for f in CREDENTIAL_FILES)


def _credential_stamp(environ):
    stamps = []
    for f in CREDENTIAL_FILES:
        try:
            stamps.append((claude_dir(environ) / f).stat().st_mtime_ns)
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def wait_for_credentials(environ, wakeup, require_change=False, timeout=None):
    """Block until the claude dir changes (a login landed) or `wakeup` is set."""
    before = _credential_stamp(environ)
    directory = claude_dir(environ)
    directory.mkdir(parents=True, exist_ok=True)
    fd = _inotify(directory)
    try:
        while not wakeup.is_set():
            if has_credentials(environ) and (not require_change
                                             or _credential_stamp(environ) != before):
                return True
            if fd is None:
                wakeup.wait(timeout or 30)    # no inotify here: look again now and then
                continue
            ready, _, _ = gselect.select([fd], [], [], 1.0 if timeout is None else timeout)
            if ready:
                try:
                    os.read(fd, 65536)
                except BlockingIOError:
                    pass
        return has_credentials(environ)
    finally:
        if fd is not None:
            os.close(fd)


def _inotify(directory):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return None
        mask = _IN_CREATE | _IN_MOVED_TO | _IN_CLOSE_WRITE
        if libc.inotify_add_watch(fd, str(directory).encode(), mask) < 0:
            os.close(fd)
            return None
        return fd
    except (OSError, AttributeError):
        return None


class LoginFlow:
    """One `claude auth login` at a time, driven from the agent's page."""

    def __init__(self, harness):
        self.harness = harness
        self.proc = None
        self.output = ""
        self.url = None
        self.finished = False
        self.exit_note = None
        self._lock = threading.Lock()

    def command(self):
        configured = self.harness.settings.login_cmd
        return list(configured) if configured else [self.harness.claude_bin, "auth", "login"]

    def start(self):
        if self.proc is not None and self.proc.poll() is None:
            raise Conflict("a login is already running")
        self.output, self.url, self.finished, self.exit_note = "", None, False, None
        # As claude's uid: the credentials it writes are claude's to read.
        setup = self.harness.setup
        self.proc = subprocess.Popen(setup.as_claude(self.command()),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=setup.claude_env(),
                                     cwd=str(self.harness.state_dir))
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        self.harness.set_status("needs_login_in_progress")
        return self.snapshot()

    def _read(self, proc):
        for raw in iter(lambda: proc.stdout.readline(), b""):
            line = raw.decode(errors="replace")
            with self._lock:
                self.output = (self.output + line)[-20000:]
                if self.url is None and (m := URL_RE.search(line)):
                    self.url = m.group(0)
            self.harness.bus.emit("note", text=line.rstrip(), level="login")
        rc = proc.wait()
        self.finished = True
        self.exit_note = "logged in" if rc == 0 else f"login exited with code {rc}"
        self.harness.bus.emit("note", text=self.exit_note, level="login")
        self.harness.interrupt_wait()
        if rc != 0:
            self.harness.set_status("needs_login_idle")

    def send_code(self, code):
        if self.proc is None or self.proc.poll() is not None:
            raise Conflict("no login is waiting for a code; start one first")
        self.proc.stdin.write(code.strip().encode() + b"\n")
        self.proc.stdin.flush()
        return self.snapshot()

    def cancel(self):
        if self.proc is None or self.proc.poll() is not None:
            raise Conflict("no login is running")
        self.proc.terminate()
        self.harness.set_status("needs_login_idle")
        return self.snapshot()

    def snapshot(self):
        return {"running": self.proc is not None and self.proc.poll() is None,
                "url": self.url, "output": self.output[-4000:], "finished": self.finished,
                "exit_note": self.exit_note}
