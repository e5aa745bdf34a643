"""The operator's command line against a real host."""

import json
import os
import select
import socket
import subprocess
import uuid

from hive import ENTRY, PYTHON, HostProcess, clean_env, short_tmpdir, wait_for
from hyperhive import cli
from hyperhive.ctl import request_for
from journald import STORE, entries


def ctl(*args, input=None, root=None):
    return subprocess.run([PYTHON, ENTRY, "ctl", *(["--root", str(root)] if root else []), *args],
                          input=input, capture_output=True, text=True, env=clean_env(),
                          timeout=30)


def request_of(*argv):
    return request_for(cli.parser().parse_args(["ctl", *argv]))


def test_the_request_is_built_from_the_verbs_fields():
    assert request_of("send", "alice", "hi", "--reply-to", "3") == {
        "cmd": "send", "to": "alice", "body": "hi", "in_reply_to": 3}
    assert request_of("pause", "bob") == {"cmd": "set_paused", "paused": True, "name": "bob"}
    assert request_of("resume", "bob")["paused"] is False
    assert request_of("inbox") == {"cmd": "inbox", "limit": 20}
    assert request_of("destroy", "bob", "--purge") == {"cmd": "destroy", "name": "bob",
                                                      "purge": True}
    assert request_of("request-spawn", "bob") == {"cmd": "request_spawn", "name": "bob",
                                                  "description": None}
    assert request_of("subscribe", "--kinds", "sent,,delivered") == {
        "cmd": "subscribe", "kinds": ["sent", "delivered"]}
    assert request_of("subscribe")["kinds"] is None
    assert request_of("diff", "4") == {"cmd": "approval_diff", "id": 4}
    assert request_of("login-url") == {"cmd": "login_url"}
    assert request_of("logs", "alice", "-f", "-n", "5") == {"cmd": "logs", "name": "alice"}
    assert request_of("move", "alice", "south") == {"cmd": "move", "name": "alice",
                                                    "host": "south"}


def test_list_and_status_are_readable(host_with_alice):
    r = host_with_alice.ctl("list")
    assert r.returncode == 0 and r.stdout.split() == ["manager", "alice"]
    r = host_with_alice.ctl("status")
    assert r.returncode == 0
    header, *rows = r.stdout.splitlines()
    assert header.split()[:4] == ["NAME", "RUNNING", "STATE", "FLAGS"]
    assert [row.split()[0] for row in rows] == ["manager", "alice"]
    # no claude credentials in the test environment: both wait for a login
    wait_for(lambda: all(row.split()[3] == "needs-login" for row in
                         host_with_alice.ctl("status").stdout.splitlines()[1:]),
             what="both agents flagged needs-login")


def test_json_gives_the_raw_reply(host):
    r = host.ctl("--json", "list")
    assert r.returncode == 0 and json.loads(r.stdout) == {"ok": True, "v": 1,
                                                          "agents": ["manager"]}


def test_send_reads_stdin_and_inbox_shows_replies(host_with_alice):
    h = host_with_alice
    r = h.ctl("send", "alice", "-", input="line one\nline two\n")
    assert r.returncode == 0, r.stderr
    got = h.agent("alice", "recv")["messages"]
    assert got[0]["body"] == "line one\nline two\n" and got[0]["from"] == "operator"
    h.agent("alice", "send", to="operator", body="done, boss", in_reply_to=got[0]["id"])
    r = h.ctl("inbox")
    assert "from alice" in r.stdout and "done, boss" in r.stdout and "↳" in r.stdout


def test_refusals_exit_1_with_the_sentence(host):
    r = host.ctl("send", "ghost", "hi")
    assert r.returncode == 1 and "no agent named 'ghost'" in r.stderr and r.stdout == ""
    r = host.ctl("destroy", "manager")
    assert r.returncode == 1 and "cannot be destroyed" in r.stderr
    r = host.ctl("spawn", "../x")
    assert r.returncode == 1 and "not valid" in r.stderr
    r = host.ctl("move", "manager", "south")
    assert r.returncode == 1 and "no other host to move to" in r.stderr


def test_approval_round_trip(host):
    r = host.ctl("request-spawn", "bob", "--description", "builds things")
    assert r.returncode == 0
    r = host.ctl("pending")
    assert "spawn" in r.stdout and "bob" in r.stdout and "builds things" in r.stdout
    approval_id = r.stdout.split()[0].lstrip("#")
    assert host.ctl("approve", approval_id).returncode == 0
    assert "bob" in host.ctl("list").stdout
    assert host.ctl("pending").stdout.strip() == "(nothing waiting)"


def test_diff_prints_the_whole_diff_and_the_command_that_approves_it(host_with_alice):
    from test_apply_commit import commit_config
    h = host_with_alice
    commit_config(h.root / "lib" / "agents" / "alice" / "config", model="opus")
    aid = h.agent("manager", "request_apply_commit", agent="alice", commit_ref="HEAD")["id"]
    r = h.ctl("diff", str(aid))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(" agent.json | ") and '+  "model": "opus",' in lines
    digest = h.admin("approval_diff", id=aid)["diff_sha256"]
    assert lines[-1].endswith(f"ctl --root {h.root} approve {aid} --diff-sha256 {digest}")
    assert h.ctl("approve", str(aid), "--diff-sha256", "f" * 64).returncode == 1
    assert h.ctl("approve", str(aid), "--diff-sha256", digest).returncode == 0
    assert h.ctl("diff", str(aid)).stdout.splitlines()[-1] == f"# approval #{aid} is approved"
    assert h.ctl("diff", "999").returncode == 1


def test_questions_answer(host_with_alice):
    h = host_with_alice
    qid = h.agent("alice", "ask", question="ship it?", options=["yes", "no"])["id"]
    r = h.ctl("questions")
    assert f"#{qid}" in r.stdout and "ship it?" in r.stdout and "yes | no" in r.stdout
    assert h.ctl("answer", str(qid), "yes").returncode == 0
    assert h.ctl("questions").stdout.strip() == "(no open questions)"


def test_no_host_exits_2_and_says_so():
    root = short_tmpdir()
    r = ctl("list", root=root)
    assert r.returncode == 2 and "the host is not running" in r.stderr


def test_dead_socket_file_exits_2():
    root = short_tmpdir()
    (root / "run").mkdir()
    path = root / "run" / "host.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()                      # the file stays, nothing listens
    r = ctl("list", root=root)
    assert r.returncode == 2 and "nothing is listening" in r.stderr


def test_permission_denied_is_explained(host):
    if os.getuid() != 0:
        return
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        PYTHON, ENTRY, "ctl", "--socket", str(host.sock), "list"],
                       capture_output=True, text=True, env=clean_env(), timeout=30)
    assert r.returncode == 2 and "permission denied" in r.stderr


def test_usage_errors_exit_2(host):
    r = host.ctl("frobnicate")
    assert r.returncode == 2
    r = host.ctl("approve", "not-a-number")
    assert r.returncode == 2


def test_admin_socket_mode(host):
    assert oct(os.stat(host.sock).st_mode & 0o777) == "0o660"


# -- logs --------------------------------------------------------------------------------

def _line_pid(line):
    """The pid in a journalctl short line: `... hyperhive[1234]: message`."""
    return int(line.split("hyperhive[", 1)[1].split("]", 1)[0])


def _next_line(proc, timeout=15):
    if not select.select([proc.stdout], [], [], timeout)[0]:
        raise AssertionError(f"no line from `ctl logs -f` within {timeout}s")
    return proc.stdout.readline()


def test_logs_shows_one_agents_journal_and_follows_it(journald):
    from systemd import journal as sd_journal
    env = clean_env()
    env.pop("HYPERHIVE_LOG")
    if journald["started"]:
        env["HYPERHIVE_JOURNAL_DIR"] = STORE    # a host that reads a journal dir of its own
    h = HostProcess(env=env).start()
    follow = None
    try:
        for name in ("alice", "bob"):
            assert h.admin("spawn", name=name)["ok"]
        harness = {name: {int(e["_PID"]) for e in entries(
            "HIVE_ROLE=agent", f"HIVE_AGENT={name}", want=3, timeout=20)}
            for name in ("alice", "bob")}
        r = h.ctl("--json", "logs", "alice")
        assert json.loads(r.stdout) == {
            "ok": True, "v": 1, "machine": None, "directory": env.get("HYPERHIVE_JOURNAL_DIR"),
            "matches": ["SYSLOG_IDENTIFIER=hyperhive", "HIVE_AGENT=alice"]}

        r = h.ctl("logs", "alice", "-n", "5")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert len(lines) == 5
        assert {_line_pid(line) for line in lines} <= harness["alice"] | {h.proc.pid}
        everything = h.ctl("logs", "alice").stdout.splitlines()
        assert lines == everything[-5:]
        pids = {_line_pid(line) for line in everything}
        assert pids & harness["alice"] and not pids & harness["bob"]

        follow = subprocess.Popen([PYTHON, ENTRY, "ctl", "--root", str(h.root), "logs",
                                   "alice", "-f", "-n", "1"], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _next_line(follow)          # the last line: journalctl follows from here
        mark = uuid.uuid4().hex
        sd_journal.send(f"for bob {mark}", SYSLOG_IDENTIFIER="hyperhive", HIVE_AGENT="bob")
        sd_journal.send(f"for alice {mark}", SYSLOG_IDENTIFIER="hyperhive", HIVE_AGENT="alice")
        line = _next_line(follow)
        while mark not in line:
            line = _next_line(follow)
        assert line.rstrip("\n").endswith(f": for alice {mark}")
    finally:
        if follow is not None:
            follow.kill()
            follow.wait()
        h.stop()


def test_logs_of_an_unknown_agent_is_refused(host):
    r = host.ctl("logs", "ghost")
    assert r.returncode == 1 and r.stdout == ""
    assert "there is no agent or kept state named ghost" in r.stderr
    r = host.ctl("logs", "-M")
    assert r.returncode == 2          # not a name: argparse takes it for an option
    r = host.ctl("logs", "../x")
    assert r.returncode == 1 and "not valid" in r.stderr
