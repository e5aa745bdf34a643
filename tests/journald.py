"""A real systemd-journald for tests: the running one, or one started standalone."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

JOURNALD = "/lib/systemd/systemd-journald"
RUN_DIR = "/run/systemd/journal"
SOCKET = RUN_DIR + "/socket"
STORE = "/run/log/journal"
DROP_IN_DIR = "/run/systemd/journald.conf.d"
DROP_IN = DROP_IN_DIR + "/50-hyperhive-tests.conf"
# Volatile storage keeps test records in /run/log/journal even where /var/log/journal exists;
# the rest keeps the daemon from reading the host's kernel log or writing anywhere else.
JOURNALD_CONF = """\
[Journal]
Storage=volatile
ReadKMsg=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
"""


def answers(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(path)
            return True
        except OSError:
            return False


@pytest.fixture(scope="module")
def journald():
    """A journald on /run/systemd/journal/socket: the running one, or one started here."""
    if answers(SOCKET):
        yield {"started": False}
        return
    if os.geteuid() != 0 or not os.access(JOURNALD, os.X_OK) or not shutil.which("journalctl"):
        pytest.skip("needs root, %s and journalctl" % JOURNALD)
    made_run_dir = not os.path.isdir(RUN_DIR)
    before = set() if made_run_dir else set(os.listdir(RUN_DIR))
    made_store = not os.path.isdir(STORE)
    made_drop_in_dir = not os.path.isdir(DROP_IN_DIR)
    os.makedirs(DROP_IN_DIR, exist_ok=True)
    with open(DROP_IN, "w") as f:
        f.write(JOURNALD_CONF)
    log = tempfile.TemporaryFile()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SYSTEMD_LOG_TARGET": "console", "SYSTEMD_LOG_LEVEL": "info"}
    # No arguments: an argument would be taken as a journal namespace name.
    proc = subprocess.Popen([JOURNALD], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            env=env)
    try:
        deadline = time.monotonic() + 10
        while not answers(SOCKET):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail("systemd-journald did not come up:\n"
                            + log.read().decode(errors="replace"))
            time.sleep(0.02)
        yield {"started": True}
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        os.unlink(DROP_IN)
        if made_drop_in_dir:
            os.rmdir(DROP_IN_DIR)
        # Its sockets outlive it and would refuse connections: remove what it created.
        if made_run_dir:
            shutil.rmtree(RUN_DIR, ignore_errors=True)
        else:
            for name in set(os.listdir(RUN_DIR)) - before:
                os.unlink(os.path.join(RUN_DIR, name))
        if made_store:
            shutil.rmtree(STORE, ignore_errors=True)


def entries(*matches, want=1, timeout=5.0):
    """Journal entries matching `matches` as dicts; retries until `want` have arrived, since
    journald writes a datagram shortly after it was sent."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["journalctl", "--no-pager", "-q", "-o", "json", *matches],
                             capture_output=True, text=True, timeout=10).stdout
        found = [json.loads(line) for line in out.splitlines() if line.strip()]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


