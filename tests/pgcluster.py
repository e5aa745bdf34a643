"""A throwaway PostgreSQL cluster for the tests and benchmarks.

`PgCluster` initdb's a cluster in a fresh /tmp dir and runs it with Debian's binaries
(/usr/lib/postgresql/<version>/bin) as an unprivileged uid: PostgreSQL refuses to run
as root, and the tests run as root. It listens on a unix socket in its own dir only (no
TCP port, so runs side by side never collide) with fsync on, as a real deployment
would. The dir is the cluster uid's and mode 0700: no other unprivileged uid (an agent's,
say) can reach the socket; root can. `stop()` ends the server and removes the dir.

Fixtures: `pgcluster` (one per test session: starting one costs about a second) and
`pgdb` (a fresh database per test, dropped after it, even when the test failed).
"""

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest

# A superuser that connects over the socket with `trust`; the dir's mode is the lock.
SUPERUSER = "hyperhive"
# The unix socket's name is .s.PGSQL.<port>; no TCP listens on it.
PORT = 5432


def postgres_bindir():
    """The newest Debian PostgreSQL install's bin dir."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        raise FileNotFoundError("no PostgreSQL under /usr/lib/postgresql (./dev setup)")
    return Path(found[-1]).parent


def process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that died but was not reaped yet is gone for our purposes.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def processes_in(directory):
    """Pids of the live processes whose working dir is `directory`: every PostgreSQL
    process chdirs into its data dir, orphans of a killed postmaster included."""
    directory = os.path.realpath(directory)
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd == directory and process_alive(int(entry)):
            out.append(int(entry))
    return out


class PgCluster:
    def __init__(self, user="nobody"):
        self.bindir = postgres_bindir()
        self.account = pwd.getpwnam(user)
        self.dir = None
        self.postmaster_pid = None

    # -- paths and connection strings ---------------------------------------------

    @property
    def datadir(self):
        return self.dir / "data"

    @property
    def socket_dir(self):
        return self.dir

    @property
    def socket_path(self):
        return self.socket_dir / f".s.PGSQL.{PORT}"

    def dsn(self, dbname="postgres"):
        """A libpq connection string (psycopg2.connect takes it as it is)."""
        return f"host={self.socket_dir} port={PORT} user={SUPERUSER} dbname={dbname}"

    def url(self, dbname="postgres"):
        """The same as a postgresql:// URL (what `hyperhive host --broker` takes)."""
        return (f"postgresql://{SUPERUSER}@/{dbname}?host={quote(str(self.socket_dir), safe='')}"
                f"&port={PORT}")

    def connect_args(self, dbname):
        """The same as keywords (peewee's PostgresqlDatabase takes these)."""
        return {"host": str(self.socket_dir), "port": PORT, "user": SUPERUSER,
                "database": dbname}

    # -- running ------------------------------------------------------------------

    def _as_owner(self, *argv, **kw):
        """Run a PostgreSQL program as the cluster's uid."""
        cmd = ["setpriv", f"--reuid={self.account.pw_uid}", f"--regid={self.account.pw_gid}",
               "--clear-groups", "--", *argv]
        return subprocess.run(cmd, check=True, capture_output=True, text=True,
                              cwd=self.dir, **kw)

    def start(self):
        self.dir = Path(tempfile.mkdtemp(prefix="hhpg", dir="/tmp"))
        try:
            os.chown(self.dir, self.account.pw_uid, self.account.pw_gid)
            os.chmod(self.dir, 0o700)
            # --no-sync skips only initdb's own flush of the files it wrote; the server
            # below runs with fsync on, so every commit from then on is durable.
            self._as_owner(str(self.bindir / "initdb"), "-D", str(self.datadir),
                           "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-locale",
                           "--no-sync", "--no-instructions")
            options = " ".join([
                "-c listen_addresses=''", f"-c unix_socket_directories={self.socket_dir}",
                f"-p {PORT}", "-c fsync=on", "-c synchronous_commit=on",
                "-c full_page_writes=on", "-c max_connections=200"])
            self._as_owner(str(self.bindir / "pg_ctl"), "start", "-w", "-t", "60",
                           "-D", str(self.datadir), "-l", str(self.dir / "server.log"),
                           "-o", options, timeout=90)
            pid_line = (self.datadir / "postmaster.pid").read_text().split("\n", 1)[0]
            self.postmaster_pid = int(pid_line)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """End the server (fast shutdown, then SIGKILL for what lingers) and remove the dir."""
        if self.dir is None:
            return
        try:
            self._shut_down()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self.postmaster_pid = None

    def _shut_down(self):
        if self.postmaster_pid is not None and process_alive(self.postmaster_pid):
            try:
                self._as_owner(str(self.bindir / "pg_ctl"), "stop", "-w", "-t", "20",
                               "-m", "fast", "-D", str(self.datadir), timeout=30)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pass
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.02)

    def processes(self):
        """The cluster's live processes: the postmaster and its children."""
        return processes_in(self.datadir) if self.dir else []

    # -- databases ----------------------------------------------------------------

    def _admin(self, sql):
        conn = psycopg2.connect(self.dsn("postgres"))
        try:
            conn.autocommit = True    # CREATE and DROP DATABASE refuse a transaction
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def create_database(self, name=None):
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name):
        # FORCE ends the connections a failed test left open.
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pgcluster():
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pgdb(pgcluster):
    """A fresh database's name in the session's cluster; dropped after the test."""
    name = pgcluster.create_database()
    try:
        yield name
    finally:
        pgcluster.drop_database(name)
