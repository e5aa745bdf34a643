"""A terminal on the agent's page: one login shell in a pseudo-terminal at a time.

The shell runs in the agent's state dir with the environment and uid claude gets, as
the leader of its own session with the pty as its controlling terminal (so
job control, Ctrl-C and `tty` work as on a console). Everything it prints goes
into a 64 KiB ring and out to every open stream; every tab shows the same shell.

- `GET /terminal` — the page (static/terminal.js draws it with xterm.js; the
  start and stop buttons also work as plain forms).
- `GET /terminal/stream` — SSE. `output` carries base64 bytes; its id is the
  byte offset where they end, so a reconnect with Last-Event-ID gets only
  what it missed while that is still in the ring, and the whole ring (with
  `reset`) otherwise. `start` and `exit` say when a shell begins and ends,
  with `html`, the page's shell badge as it now reads; a new stream gets the
  current one of them after the replay.
- `POST /terminal/input` (`data`: base64, at most 64 KiB), `/terminal/resize`
  (`rows`, `cols`), `/terminal/start` (optional `rows`, `cols`), `/terminal/stop`
  (SIGHUP to the shell's process group, SIGKILL after 3 s) — through web.action.

Trust: like the rest of the agent's page, these routes are reached only through
the host (pages.py), which asks for the operator's session first.
"""

import base64
import binascii
import errno
import fcntl
import json
import logging
import os
import pty
import signal
import struct
import termios
import time

import bottle
import gevent
import gevent.os
import gevent.subprocess
from gevent.event import Event

from . import formats, sse, web
from .agentview import dashboard_url
from .errors import BadArgs, Conflict, TooLarge, Unavailable
from .fanout import Fanout

log = logging.getLogger(__name__)

RING_BYTES = 64 * 1024
MAX_INPUT = 64 * 1024
READ_CHUNK = 64 * 1024
KILL_AFTER = 3              # seconds between the stop's SIGHUP and its SIGKILL
DRAIN_SECONDS = 0.5         # what the shell printed just before it exited still arrives
WRITE_TIMEOUT = 10
SIZE_LIMITS = (1, 1000)
DEFAULT_SIZE = (24, 80)
STREAM_QUEUE = 64           # output events a stream may fall behind before it is cut off
SHELLS = ("/bin/bash", "/bin/sh")


def shell_argv(env):
    """A login shell: $SHELL, else bash, else sh."""
    for path in (env.get("SHELL"), *SHELLS):
        if path and os.path.isabs(path) and os.access(path, os.X_OK):
            return [path, "-l"]
    raise Unavailable("no shell to start: neither $SHELL nor /bin/bash nor /bin/sh is there")


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _take_terminal():
    """In the child: a session of its own, with the pty (its stdin) as controlling terminal.

    A tty that is only dup2'd onto fds 0-2 never becomes one by itself (bash
    opens its tty and so gets one, sh does not), and gevent's Popen calls setsid
    only after preexec_fn, so start_new_session cannot be combined with this.
    """
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Shell:
    """One running shell: its process and the pty's master end."""

    def __init__(self, argv, cwd, env, size, owner=None):
        master, slave = pty.openpty()
        try:
            set_size(slave, *size)
            if owner is not None:
                os.fchown(slave, *owner)    # the shell's own tty, as on a console
            self.proc = gevent.subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                preexec_fn=_take_terminal, close_fds=True)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self.master = master
        self.pid = self.proc.pid
        self.started_at = time.time()
        self.ended = Event()
        self.pump = None
        self.killer = None

    def read(self):
        """The next output, or b"" once nothing holds the pty's other end (Linux says EIO)."""
        try:
            return gevent.os.nb_read(self.master, READ_CHUNK)
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise

    def write(self, data):
        view = memoryview(data)
        with gevent.Timeout(WRITE_TIMEOUT, Unavailable("the shell is not reading its input")):
            while view:
                view = view[gevent.os.nb_write(self.master, view):]

    def hang_up(self):
        """SIGHUP to the shell's process group; SIGKILL if the shell is still there later."""
        self._signal(signal.SIGHUP)
        if self.killer is None:
            self.killer = gevent.spawn_later(KILL_AFTER, self._kill_if_running)

    def _kill_if_running(self):
        if self.proc.poll() is None:
            log.warning("the terminal's shell %s ignored SIGHUP; killing it", self.pid)
            self._signal(signal.SIGKILL)

    def _signal(self, signum):
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


class Terminal:
    """The agent's one shell at a time, its recent output, and the streams that follow it."""

    def __init__(self, cwd, make_env, wrap=list, owner=None):
        self.cwd = str(cwd)
        self.make_env = make_env
        self.wrap = wrap        # puts the harness's setpriv in front: the shell runs as claude
        self.owner = owner      # (uid, gid) the shell runs as, or None for ours
        self.fanout = Fanout(maxsize=STREAM_QUEUE)
        self.ring = bytearray()
        self.end = 0            # bytes output so far: the offset where the ring ends
        self.size = DEFAULT_SIZE
        self.shell = None
        self.starting = False
        self.exit_code = None
        self.version = 0        # bumps at every start and exit, so streams skip stale ones

    # -- the shell -------------------------------------------------------------------

    def start(self, size=None):
        if self.shell is not None:
            raise Conflict(f"a shell is already running (pid {self.shell.pid}); stop it first")
        if self.starting:
            raise Conflict("a shell is starting")
        if size:
            self.size = size
        env = {**self.make_env(), "TERM": "xterm-256color"}
        argv = shell_argv(env)
        # gevent's Popen waits for the exec cooperatively: a second start could come in.
        self.starting = True
        try:
            shell = Shell(self.wrap(argv), self.cwd, env, self.size, self.owner)
        except OSError as exc:
            raise Unavailable(f"cannot start {argv[0]}: {exc}") from None
        finally:
            self.starting = False
        self.shell = shell
        shell.pump = gevent.spawn(self._pump, shell)
        gevent.spawn(self._watch, shell)
        self._change("start", pid=shell.pid)
        log.info("terminal: started %s (pid %s) in %s", argv[0], shell.pid, self.cwd)
        return shell

    def _pump(self, shell):
        while True:
            data = shell.read()
            if not data:
                return
            self._output(data)
            gevent.sleep(0)     # a shell printing without pause must not starve the hub

    def _watch(self, shell):
        code = shell.proc.wait()
        if shell.killer is not None:
            shell.killer.kill(block=False)
        # Background jobs may hold the pty open: they get what is left of the drain time.
        shell.pump.join(timeout=DRAIN_SECONDS)
        shell.pump.kill()
        # From here to the exit event nothing yields, so no start can come in between.
        self.shell = None
        os.close(shell.master)
        self.exit_code = code
        self._output(exit_line(code))
        self._change("exit", code=code)
        shell.ended.set()
        log.info("terminal: the shell %s ended (%s)", shell.pid, code)

    def write(self, data):
        if self.shell is None or self.shell.proc.returncode is not None:
            raise Conflict("no shell is running: start one first")
        self.shell.write(data)

    def resize(self, rows, cols):
        self.size = (rows, cols)
        if self.shell is not None:
            set_size(self.shell.master, rows, cols)

    def stop(self):
        if self.shell is None:
            raise Conflict("no shell is running")
        shell = self.shell
        shell.hang_up()
        return shell

    def close(self):
        """At the harness's stop: hang up, and wait until the shell is gone."""
        shell = self.shell
        if shell is not None:
            shell.hang_up()
            shell.ended.wait(KILL_AFTER + DRAIN_SECONDS + 1)

    # -- output ----------------------------------------------------------------------

    def _output(self, data):
        self.ring += data
        del self.ring[:-RING_BYTES]
        self.end += len(data)
        self.fanout.publish({"kind": "output", "end": self.end, "data": bytes(data)})

    def _change(self, kind, **data):
        self.version += 1
        self.fanout.publish({"kind": kind, "data": {**data, "version": self.version}})

    def replay(self, last):
        """(bytes, reset): what followed byte offset `last`, or the whole ring."""
        start = self.end - len(self.ring)
        if last is not None and start <= last <= self.end:
            return bytes(self.ring[last - start:]), False
        return bytes(self.ring), True

    def state(self):
        """The event that tells a new stream whether a shell runs now."""
        if self.shell is not None:
            return "start", {"pid": self.shell.pid, "version": self.version}
        return "exit", {"code": self.exit_code, "version": self.version}


def exit_line(code):
    if code is None or code >= 0:
        how = "exited" if not code else f"exited with {code}"
    else:
        try:
            how = f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
    return (f"\r\n\x1b[2m[the shell {how} · press Enter or ▶ start for a new one]"
            "\x1b[0m\r\n").encode()


# -- the stream ------------------------------------------------------------------------

def _frame(kind, data, event_id=None):
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _state_frame(term, kind, data):
    """A start or exit event, with the shell badge rendered as the page shows it."""
    shell = term.shell if kind == "start" else None
    html = web.render("terminal_shell", pid=shell and shell.pid,
                      started_at=shell and shell.started_at, clock=formats.clock)
    return _frame(kind, {**data, "html": html})


def _output_frame(end, data, reset=False):
    payload = {"data": base64.b64encode(data).decode()}
    if reset:
        payload["reset"] = True
    return _frame("output", payload, end)


def stream(term, keepalive):
    """The response to `GET /terminal/stream` (headers as web.sse sets them)."""
    last = sse.last_event_id()
    sse.stream_headers()
    return _frames(term, last, bottle.request.environ.get(sse.SOCKET_KEY),
                   keepalive)


def _frames(term, last, sock, keepalive):
    sub = term.fanout.subscribe()
    with sse.watched(sock, sub):
        yield f"retry: {sse.RETRY_MS}\n: hyperhive terminal\n\n".encode()
        # Whatever was published while that went out is in the ring too: skip it below.
        data, reset = term.replay(last)
        seen, version, state = term.end, term.version, term.state()
        yield _output_frame(seen, data, reset)
        yield _state_frame(term, *state)
        while True:
            event = sub.get(timeout=keepalive)
            if event is sse.GONE:
                return
            if event is None:
                if sub.overflowed:
                    return      # the browser reconnects and continues from its offset
                yield b": keepalive\n\n"
            elif event["kind"] == "output":
                if event["end"] > seen:
                    seen = event["end"]
                    yield _output_frame(seen, event["data"])
            elif event["data"]["version"] > version:
                yield _state_frame(term, event["kind"], event["data"])


# -- the routes ------------------------------------------------------------------------

def install(app, harness):
    """Add the terminal's page, stream and actions to the agent page's app."""
    term = harness.terminal         # the harness's own: its stop ends the shell

    @app.get("/terminal")
    def page():
        query = bottle.request.query
        # a page that finds no shell ever started here starts one itself (terminal.js)
        fresh = term.shell is None and term.version == 0
        return web.html(web.render(
            "terminal", name=harness.name, manager=harness.is_manager, shell=term.shell,
            cwd=term.cwd, size=term.size, dashboard_url=dashboard_url(harness.settings), clock=formats.clock,
            fresh=fresh, flash_ok=query.getunicode("ok"), flash_error=query.getunicode("error")))

    @app.get("/terminal/stream")
    def follow():
        return stream(term, sse.keepalive_seconds(harness.settings))

    def post(path):
        return web.action(app, path, back="/terminal")

    @post("/terminal/start")
    def start(form):
        shell = term.start(size_arg(form, required=False))
        return {"flash": f"shell started (pid {shell.pid})", "pid": shell.pid}

    @post("/terminal/stop")
    def stop(form):
        shell = term.stop()
        return {"flash": f"hung up on the shell (pid {shell.pid})", "pid": shell.pid}

    @post("/terminal/input")
    def send_input(form):
        data = input_arg(web.field(form, "data"))
        term.write(data)
        return {"flash": f"sent {len(data)} bytes", "bytes": len(data)}

    @post("/terminal/resize")
    def resize(form):
        rows, cols = size_arg(form)
        term.resize(rows, cols)
        return {"flash": f"resized to {rows}x{cols}", "rows": rows, "cols": cols}

    return term


def size_arg(form, required=True):
    """(rows, cols) from the form; None when neither is there and they are optional."""
    if not required and not (form.get("rows") or form.get("cols")):
        return None
    size = tuple(web.int_arg(web.field(form, k, strip=True), k) for k in ("rows", "cols"))
    low, high = SIZE_LIMITS
    if not all(low <= n <= high for n in size):
        raise BadArgs(f"rows and cols are whole numbers from {low} to {high}")
    return size


def input_arg(text):
    # Judge the length before decoding, so a huge body is not decoded only to be refused.
    if len(text) > (MAX_INPUT + 2) // 3 * 4:
        raise TooLarge(f"input is at most {MAX_INPUT} bytes a request")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadArgs("`data` is the input's bytes in base64") from None
    if len(data) > MAX_INPUT:
        raise TooLarge(f"input is at most {MAX_INPUT} bytes a request")
    return data
