"""hyperhive.journal against a real systemd-journald, real unix sockets and real subprocesses.

Each logging case runs in its own interpreter: setup_logging() configures the root logger of
the whole process, and the journal tells records apart by _PID.
"""

import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from hyperhive import journal
from journald import RUN_DIR, SOCKET, STORE, entries

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def short_dir():
    # sun_path holds 108 bytes; pytest's tmp_path can be longer.
    path = tempfile.mkdtemp(prefix="hh", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def child_env(**extra):
    env = {key: value for key, value in os.environ.items()
           if key not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "HYPERHIVE_LOG",
                          "JOURNAL_STREAM")}
    env["PYTHONPATH"] = ROOT
    env.update(extra)
    return env


def spawn(code, **env):
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=child_env(**env),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def readline(proc, timeout=10):
    """The child's next stdout line, failing instead of hanging if it never comes."""
    if not select.select([proc.stdout], [], [], timeout)[0]:
        pytest.fail("no output from the child within %ss" % timeout)
    return proc.stdout.readline()


def run(code, timeout=15, **env):
    """Run `code` in a fresh interpreter; returns (pid, stdout, stderr); asserts exit 0."""
    proc = spawn(code, **env)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    return proc.pid, out, err


def parse_native(data):
    """Decode one datagram of journald's native protocol into a dict of str."""
    fields = {}
    while data:
        head, _sep, rest = data.partition(b"\n")
        if b"=" in head:
            key, _, value = head.partition(b"=")
            data = rest
        else:
            (size,) = struct.unpack("<Q", rest[:8])
            key, value = head, rest[8:8 + size]
            assert rest[8 + size:9 + size] == b"\n"
            data = rest[9 + size:]
        fields[key.decode()] = value.decode()
    return fields


def refusing_socket(path):
    """Leave a socket file nobody listens on, as a stopped journald does."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
    return path


PATCH = {False: "", True: "from gevent import monkey; monkey.patch_all()\n"}


def assert_clean(err):
    assert "Logging error" not in err
    assert "Traceback" not in err


# Journal ######################################################################

def test_host_records_carry_the_fields(journald):
    mark = uuid.uuid4().hex
    pid, out, err = run(f"""
import logging
from hyperhive import journal, settings
print(journal.setup_logging("host", settings.load()))
log = logging.getLogger("hyperhive.host")
log.info("host up %s", "{mark}")
log.warning("per agent {mark}", extra={{"HIVE_AGENT": "bob"}})
log.error("two\\nlines {mark}")
""")
    assert out == "journal\n"
    assert err == ""
    found = entries("HIVE_ROLE=host", "_PID=%d" % pid, want=3)
    assert [e["MESSAGE"] for e in found] == [
        "host up " + mark, "per agent " + mark, "two\nlines " + mark]
    first, second, third = found
    assert first["SYSLOG_IDENTIFIER"] == "hyperhive"
    assert first["PRIORITY"] == "6"
    assert first["LOGGER"] == "hyperhive.host"
    assert (first["CODE_FILE"], first["CODE_LINE"], first["CODE_FUNC"]) == (
        "<string>", "6", "<module>")
    assert "HIVE_AGENT" not in first and "HIVE_EVENT" not in first
    assert second["PRIORITY"] == "4"
    assert second["HIVE_AGENT"] == "bob"
    assert third["PRIORITY"] == "3"


def test_agent_event_and_read_journal(journald):
    mark = uuid.uuid4().hex
    pid, _out, err = run(f"""
import logging
from hyperhive import journal, settings
journal.setup_logging("agent", settings.load())
log = logging.getLogger("hyperhive.agent")
log.info("before the name {mark}")
journal.set_agent("alice")
journal.event(log, "turn_end", "turn done {mark}", HIVE_OUTCOME="ok", duration_ms=12)
""")
    assert err == ""
    before, turn = entries("_PID=%d" % pid, want=2)
    assert before["HIVE_ROLE"] == "agent" and "HIVE_AGENT" not in before
    [turn] = entries("HIVE_AGENT=alice", "_PID=%d" % pid)
    assert turn["MESSAGE"] == "turn done " + mark
    assert turn["HIVE_ROLE"] == "agent"
    assert turn["HIVE_EVENT"] == "turn_end"
    assert turn["HIVE_OUTCOME"] == "ok"
    assert turn["HIVE_DURATION_MS"] == "12"
    assert turn["CODE_LINE"] == "8"         # the caller of event(), not event() itself

    alice = {"matches": journal.agent_matches("alice")}
    lines = journal.read_journal(alice)
    assert lines[-1].endswith(" hyperhive[%d]: turn done %s" % (pid, mark))
    assert journal.read_journal(alice, lines=1) == lines[-1:]
    if journald["started"]:
        lines = journal.read_journal({**alice, "directory": STORE})
        assert lines[-1].endswith("turn done " + mark)


def test_forced_stderr_keeps_stdout_clean(journald):
    mark = uuid.uuid4().hex
    pid, out, err = run(f"""
import logging
from hyperhive import journal, settings
print(journal.setup_logging("mcp", settings.load()), file=__import__("sys").stderr)
journal.event(logging.getLogger("hyperhive.mcp"), "tool_call", "call {mark}", tool="send")
""", HYPERHIVE_LOG="stderr")
    assert out == ""
    first, line = err.splitlines()
    assert first == "stderr"
    assert line.endswith(" INFO mcp hyperhive.mcp: call %s event=tool_call tool=send" % mark)
    assert entries("_PID=%d" % pid, want=1, timeout=0.3) == []


# Without journald #############################################################

FALLBACK = """
import logging, sys
from hyperhive import journal, settings
print(journal.setup_logging("agent", settings.load(), agent="alice"{extra}))
log = logging.getLogger("hyperhive.agent")
log.info("first")
log.warning("second", extra={{"HIVE_AGENT": "bob"}})
journal.event(log, "turn_end", "third", HIVE_OUTCOME="ok", duration_ms=7)
"""


def check_fallback(out, err):
    assert out == "stderr\n"
    assert_clean(err)
    lines = err.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith(" INFO agent/alice hyperhive.agent: first")
    assert lines[1].endswith(" WARNING agent/bob hyperhive.agent: second")
    assert lines[2].endswith(" INFO agent/alice hyperhive.agent: third "
                             "event=turn_end outcome=ok duration_ms=7")


def test_refusing_socket_falls_back_to_stderr(short_dir):
    path = refusing_socket(short_dir + "/socket")
    _, out, err = run(FALLBACK.format(extra=", socket_path=%r" % path))
    check_fallback(out, err)


def test_missing_socket_falls_back_to_stderr(short_dir):
    _, out, err = run(FALLBACK.format(extra=", socket_path=%r" % (short_dir + "/none")))
    check_fallback(out, err)


def test_default_socket_refusing_falls_back_to_stderr():
    """The default path, as on a host whose journald was stopped: a private mount namespace
    puts an empty tmpfs over /run/systemd/journal with a dead socket in it."""
    if not shutil.which("unshare") or subprocess.run(
            ["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs unshare -m")
    code = ("import socket\nwith socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s: "
            "s.bind(%r)\n" % SOCKET) + FALLBACK.format(extra="")
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", 'mount -t tmpfs tmpfs "$0" && exec "$@"', RUN_DIR,
         sys.executable, "-c", code],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=15)
    assert proc.returncode == 0, proc.stderr
    check_fallback(proc.stdout, proc.stderr)


def test_journal_gone_mid_run(short_dir):
    """A socket we bind stands in for journald; closing it makes the child fall back."""
    path = short_dir + "/socket"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.settimeout(5)
    proc = spawn(f"""
import logging, sys
from hyperhive import journal, settings
print(journal.setup_logging("host", settings.load(), socket_path={path!r}), flush=True)
log = logging.getLogger("hyperhive.host")
log.info("one\\nline two")
sys.stdin.readline()
log.info("three")
log.info("four")
""")
    try:
        assert readline(proc) == "journal\n"
        fields = parse_native(receiver.recv(65536))
        assert fields["MESSAGE"] == "one\nline two"
        assert fields["PRIORITY"] == "6"
        assert fields["SYSLOG_IDENTIFIER"] == "hyperhive"
        assert fields["HIVE_ROLE"] == "host"
        receiver.close()
        os.unlink(path)
        _, err = proc.communicate("\n", timeout=10)
    finally:
        receiver.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert_clean(err)
    lines = err.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith(" WARNING host journald stopped answering; logging to stderr")
    assert lines[1].endswith(" INFO host hyperhive.host: three")
    assert lines[2].endswith(" INFO host hyperhive.host: four")


@pytest.mark.parametrize("gevent", [False, True], ids=["threads", "gevent"])
def test_busy_journal_drops_instead_of_blocking(short_dir, gevent):
    """Nobody reads the socket, so its queue fills: the child must go on, count the
    records it dropped, and say so once the socket takes datagrams again."""
    path = short_dir + "/socket"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    proc = spawn(PATCH[gevent] + f"""
import logging, sys
from hyperhive import journal, settings
journal.setup_logging("host", settings.load(), socket_path={path!r})
log = logging.getLogger("hyperhive.host")
for i in range(3000):
    log.info("record %d", i)
print("done", flush=True)
sys.stdin.readline()
log.info("after")
""")
    try:
        assert readline(proc) == "done\n"      # it did not block
        receiver.setblocking(False)
        queued = []
        while True:
            try:
                queued.append(parse_native(receiver.recv(65536))["MESSAGE"])
            except BlockingIOError:
                break
        assert 0 < len(queued) < 3000
        assert queued == ["record %d" % i for i in range(len(queued))]
        receiver.settimeout(5)
        proc.stdin.write("\n")
        proc.stdin.flush()
        after = parse_native(receiver.recv(65536))
        note = parse_native(receiver.recv(65536))
        _, err = proc.communicate(timeout=10)
    finally:
        receiver.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == 0 and err == ""
    assert after["MESSAGE"] == "after"
    assert note["MESSAGE"] == "journald was busy: dropped %d log records" % (3000 - len(queued))
    assert note["PRIORITY"] == "4"


# sd_notify ####################################################################

@pytest.fixture(params=["path", "abstract"])
def notify_socket(request, short_dir):
    """(NOTIFY_SOCKET value, bound receiving socket)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        address = short_dir + "/notify"
        sock.bind(address)
    else:
        address = "@hyperhive-test-" + uuid.uuid4().hex
        sock.bind("\0" + address[1:])
    sock.settimeout(5)
    yield address, sock
    sock.close()


def test_notify_sends_one_datagram(notify_socket):
    address, sock = notify_socket
    _, out, err = run("""
from hyperhive import journal, settings
print(journal.notify(settings.load(), "READY=1", "STATUS=x"))
""", NOTIFY_SOCKET=address)
    assert (out, err) == ("True\n", "")
    assert sock.recv(4096) == b"READY=1\nSTATUS=x"


@pytest.mark.parametrize("gevent", [False, True], ids=["threads", "gevent"])
def test_watchdog_pings(short_dir, gevent):
    address = short_dir + "/notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    try:
        started = time.monotonic()
        _, out, err = run(PATCH[gevent] + """
import time
from hyperhive import journal, settings
stop = journal.start_watchdog(settings.load())
time.sleep(0.5)
stop()
print("stopped")
""", NOTIFY_SOCKET=address, WATCHDOG_USEC="200000")
        assert (out, err) == ("stopped\n", "")
        sock.setblocking(False)
        pings = []
        while True:
            try:
                pings.append(sock.recv(4096))
            except BlockingIOError:
                break
    finally:
        sock.close()
    assert time.monotonic() - started < 10
    # Every 0.1 s for 0.5 s, the first at once.
    assert set(pings) == {b"WATCHDOG=1"}
    assert 2 <= len(pings) <= 7


def test_watchdog_for_another_pid_stays_quiet(short_dir):
    address = short_dir + "/notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    try:
        _, _out, err = run("""
import time
from hyperhive import journal, settings
stop = journal.start_watchdog(settings.load())
time.sleep(0.3)
stop()
""", NOTIFY_SOCKET=address, WATCHDOG_USEC="200000", WATCHDOG_PID="1")
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            sock.recv(4096)
    finally:
        sock.close()
    assert err == ""


def test_without_notify_socket_nothing_happens(short_dir):
    _, out, err = run("""
import time
from hyperhive import journal, settings
print(journal.notify(settings.load(), "READY=1"))
stop = journal.start_watchdog(settings.load())
time.sleep(0.15)
stop()
""", WATCHDOG_USEC="100000")
    assert (out, err) == ("False\n", "")
    # A NOTIFY_SOCKET nobody listens on is no reason to raise either.
    _, out, err = run("""
from hyperhive import journal, settings
print(journal.notify(settings.load(), "READY=1"), journal.notify(settings.load(), "STOPPING=1"))
""", NOTIFY_SOCKET=short_dir + "/nobody")
    assert (out, err) == ("False False\n", "")


# Reading ######################################################################

@pytest.mark.parametrize("name", ["../x", "A", "a/b", "a" * 100, "", "-x", "alice\n",
                                  "a b", "1abc", "abcdefghij"])
def test_agent_matches_refuse_bad_names(name):
    with pytest.raises(ValueError):
        journal.agent_matches(name)


@pytest.mark.parametrize("query", [
    {"machine": "--output=json"}, {"machine": "-D/etc"}, {"machine": "a b"},
    {"directory": "-D"}, {"directory": "relative/dir"}, {"directory": "/a\nb"},
    {"matches": ["--since=yesterday"]}, {"matches": ["lower=case"]}, {"matches": "HIVE_AGENT=a"},
    {"matches": ["A=1"] * 9}, {"matches": ["A=b\nc"]}, {"machine": 1}, "HIVE_AGENT=alice"])
def test_a_query_part_that_could_pass_for_an_option_is_refused(query):
    with pytest.raises(ValueError):
        journal.check_query(query)
    with pytest.raises(ValueError):
        journal.journalctl_argv(query)


def test_journalctl_argv_per_query():
    alice = journal.agent_matches("alice")
    assert journal.journalctl_argv({"matches": alice}) == [
        "journalctl", "SYSLOG_IDENTIFIER=hyperhive", "HIVE_AGENT=alice"]
    assert journal.journalctl_argv({"directory": "/j", "matches": alice}, lines=5,
                                   follow=True) == [
        "journalctl", "-D", "/j", "-n", "5", "-f", "SYSLOG_IDENTIFIER=hyperhive",
        "HIVE_AGENT=alice"]
    # a machine's own journal is read through it, not through its files
    assert journal.journalctl_argv({"machine": "h-alice", "directory": "/c/var/log/journal",
                                    "matches": []}, lines=10) == [
        "journalctl", "-M", "h-alice", "-n", "10"]


def test_reading_a_missing_journal_dir_says_why(short_dir):
    [note] = journal.read_journal({"directory": short_dir + "/missing",
                                   "matches": journal.agent_matches("alice")})
    assert note == "hyperhive: cannot open the journal in %s/missing: No such file or " \
        "directory" % short_dir


def test_a_read_is_bounded_in_lines_and_message_size(journald):
    from systemd import journal as sd_journal
    name = "z" + uuid.uuid4().hex[:8]
    for i in range(3):
        sd_journal.send("line %d" % i, SYSLOG_IDENTIFIER="hyperhive", HIVE_AGENT=name)
    sd_journal.send("x" * 100000, SYSLOG_IDENTIFIER="hyperhive", HIVE_AGENT=name)
    entries("HIVE_AGENT=" + name, want=4)
    query = {"matches": journal.agent_matches(name)}
    *lines, huge = journal.read_journal(query, lines=10**6)
    assert [line.split(": ", 1)[1] for line in lines] == ["line 0", "line 1", "line 2"]
    assert huge.endswith(": " + "x" * journal.MAX_MESSAGE + " [cut]")
    assert len(journal.read_journal(query, lines=2)) == 2
    assert len(journal.read_journal(query, lines=-5)) == 1
