"""Test helpers: run real hyperhive processes and talk to their real sockets."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path

from hyperhive.repos import as_owner

REPO = Path(__file__).resolve().parents[1]
ENTRY = str(REPO / "hyperhive.py")
PYTHON = sys.executable
COOKIE = "hyperhive_session"


def short_tmpdir(prefix="hh"):
    # unix socket paths must fit in 108 bytes; pytest's tmp_path can be longer.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_block():
    """A base port with 1000 free-looking ports above it, for agent pages."""
    return 20000 + (os.getpid() * 7919 + int(time.time() * 1000)) % 30000


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "CLAUDE", "NOTIFY_SOCKET", "WATCHDOG_"))}
    env["HYPERHIVE_LOG"] = env.get("HYPERHIVE_LOG", "stderr")
    # An approved config is deployed after it has stayed up this long (30 s by default).
    env["HYPERHIVE_SETTLE_SECONDS"] = env.get("HYPERHIVE_SETTLE_SECONDS", "1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def broker_args(request):
    """The host's arguments for the store a test parametrised with BROKERS runs on."""
    if request.param == "sqlite":
        return []
    url = request.getfixturevalue("pgcluster").url(request.getfixturevalue("pgdb"))
    return ["--broker", url]


def request(path, obj, timeout=10):
    """One request over a fresh connection; the parsed reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall((json.dumps(obj) + "\n").encode())
        return json.loads(read_line(s))


def read_line(sock):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {buf[:200]!r}")
        buf += chunk
    return buf


def wait_for(predicate, timeout=10, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class HostProcess:
    """A real `hyperhive.py host --root ROOT` subprocess (or another `command` that runs
    hyperhive, such as an installed console script, started in `cwd`)."""

    def __init__(self, root=None, claude_bin="/bin/false", env=None, dashboard_port=0,
                 args=(), command=(PYTHON, ENTRY), cwd=None):
        self.root = Path(root) if root else short_tmpdir()
        self.claude_bin = claude_bin
        self.env = env if env is not None else clean_env()
        self.dashboard_port = dashboard_port
        self.port_base = port_block()
        self.args = list(args)
        self.command = list(command)
        self.cwd = cwd
        self.proc = None
        self.log_path = self.root / "host.log"

    @property
    def broker_url(self):
        """The PostgreSQL database it was given with --broker, or None (its sqlite file)."""
        return self.args[self.args.index("--broker") + 1] if "--broker" in self.args else None

    @property
    def sock(self):
        return self.root / "run" / "host.sock"

    def agent_sock(self, name):
        return self.root / "run" / "agents" / name / "broker.sock"

    def start(self, wait=True):
        self.root.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        argv = [*self.command, "host", "--root", str(self.root),
                "--dashboard-port", str(self.dashboard_port),
                "--agent-port-base", str(self.port_base), "--claude-bin", self.claude_bin,
                *self.args]
        self.proc = subprocess.Popen(argv, env=self.env, stdout=self._log, cwd=self.cwd,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"host exited with {self.proc.returncode}:\n{self.log()}")
            try:
                return request(self.sock, {"cmd": "hello"}, timeout=2)["ok"]
            except (OSError, ValueError):
                return False
        wait_for(ready, timeout, what="the host's admin socket")

    def admin(self, cmd, /, **fields):
        return request(self.sock, {"cmd": cmd, **fields})

    def agent(self, who, cmd, /, timeout=10, **fields):
        return request(self.agent_sock(who), {"cmd": cmd, **fields}, timeout=timeout)

    def login(self, context=None):
        """A fresh operator session, as a browser gets one: ask for a login link, open it.

        Returns the `Cookie` header value ("hyperhive_session=..."); with a Playwright
        `context`, the cookie is also put there (it covers every port of 127.0.0.1)."""
        reply = self.admin("login_url")
        assert reply["ok"], reply
        link = urllib.parse.urlsplit(reply["url"])

        def opened():
            try:
                return open_link(link)
            except ConnectionRefusedError:
                return None          # the page's listener is not up yet
        value = wait_for(opened, 10, what="the login link to answer")
        if context is not None:
            context.add_cookies([browser_cookie(value)])
        return f"{COOKIE}={value}"

    @property
    def cookie(self):
        """One operator session for this host's tests (see login), made on first use."""
        if getattr(self, "_cookie", None) is None:
            self._cookie = self.login()
        return self._cookie

    def ctl(self, *args, input=None):
        return subprocess.run([*self.command, "ctl", "--root", str(self.root), *args],
                              input=input, capture_output=True, text=True, env=self.env,
                              timeout=30)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def kill(self):
        """SIGKILL the host (its agents follow it through their death signal)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout=20):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _kill_group(self.proc.pid)
        self._log.close()
        return self.proc.returncode


def open_link(link):
    """GET a login link (a urlsplit result); the session cookie's value from its 303."""
    conn = http.client.HTTPConnection(link.hostname, link.port, timeout=10)
    try:
        conn.request("GET", link.path)
        res = conn.getresponse()
        res.read()
    finally:
        conn.close()
    assert res.status == 303, (res.status, res.getheaders())
    return SimpleCookie(res.getheader("Set-Cookie"))[COOKIE].value


def use_session(context, cookie):
    """Put a session (a `Cookie` value from HostProcess.login) into a Playwright context."""
    context.add_cookies([browser_cookie(cookie.split("=", 1)[1])])


def browser_cookie(value, host="127.0.0.1"):
    """The session cookie as Playwright's `context.add_cookies` takes it."""
    return {"name": COOKIE, "value": value, "domain": host, "path": "/", "httpOnly": True,
            "sameSite": "Strict"}


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# The manager's uid edits the proposed config repos.
GIT = ["git", "-c", "user.name=manager", "-c", "user.email=manager@hive"]


def git(repo, *args):
    """git as the repo's owner: the manager's uid edits the proposed repos."""
    return subprocess.run([*as_owner(repo), *GIT, "-C", str(repo), *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def commit_config(repo, **changes):
    path = repo / "agent.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config, indent=2))
    git(repo, "commit", "-qam", f"set {', '.join(changes)}")
    return git(repo, "rev-parse", "HEAD")
