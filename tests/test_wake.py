"""`hyperhive wake` from a real shell into a real host's inbox for the agent."""

import shlex
import socket
import subprocess
import time

from hive import ENTRY, PYTHON, REPO, clean_env, short_tmpdir


def wake(command, sock, **kwargs):
    return subprocess.run(command, shell=True, capture_output=True, text=True, timeout=90,
                          cwd=str(REPO), env=clean_env(HYPERHIVE_SOCK=sock), **kwargs)


def hyperhive(args):
    return f"{shlex.quote(PYTHON)} {shlex.quote(ENTRY)} wake {args}"


def test_body_from_a_pipeline(host_with_alice):
    h = host_with_alice
    out = wake("printf 'line1\\nline2' | " + hyperhive("--from 'ci: build' --body -"),
               h.agent_sock("alice"))
    assert out.returncode == 0, out.stderr
    got = h.agent("alice", "recv", max=5)["messages"]
    assert [(m["from"], m["body"]) for m in got] == [("wake:ci: build", "line1\nline2")]
    assert out.stdout == f"stored as message #{got[0]['id']}\n"


def test_body_argument_and_trailing_newline_from_echo(host_with_alice):
    h = host_with_alice
    assert wake(hyperhive("--from cron --body 'nightly done'"),
                h.agent_sock("alice")).returncode == 0
    assert wake("echo 'from echo' | " + hyperhive("--from cron --body -"),
                h.agent_sock("alice")).returncode == 0
    got = h.agent("alice", "recv", max=5)["messages"]
    assert [m["body"] for m in got] == ["nightly done", "from echo"]


def test_empty_body_is_refused(host_with_alice):
    h = host_with_alice
    out = wake(hyperhive("--from ci --body -") + " < /dev/null", h.agent_sock("alice"))
    assert out.returncode == 1
    assert "hyperhive wake: body must not be empty" in out.stderr
    assert out.stdout == ""
    assert h.agent("alice", "recv")["messages"] == []


def test_missing_socket_fails_fast_with_no_retry():
    missing = short_tmpdir() / "gone" / "mcp.sock"
    started = time.monotonic()
    out = wake(hyperhive("--from ci --body hi --no-retry"), missing)
    assert out.returncode == 2
    assert f"there is no socket at {missing}" in out.stderr
    assert out.stdout == ""
    assert time.monotonic() - started < 10


def test_socket_with_nothing_listening():
    path = short_tmpdir() / "mcp.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))           # bound but not listening: connect is refused
        out = wake(hyperhive("--from ci --body hi --no-retry"), path)
    assert out.returncode == 2
    assert f"nothing answered on {path}" in out.stderr
