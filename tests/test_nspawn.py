"""The nspawn backend: agents in real systemd-nspawn containers, driven by the real claude."""

import json
import os
import secrets
import shutil
import subprocess

import pytest

from anthropic_stub import Stub, claude_env, find_claude
from hive import PYTHON, HostProcess, clean_env, request, short_tmpdir, wait_for
from journald import STORE, entries

pytestmark = pytest.mark.skipif(shutil.which("systemd-nspawn") is None,
                                reason="systemd-nspawn is installed by ./dev setup")


def row(h, name):
    return next(r for r in h.admin("status")["agent_statuses"] if r["name"] == name)


@pytest.fixture
def contained():
    """A host on the nspawn backend with alice idle in her container, and the scripted API."""
    with Stub() as stub:
        root = short_tmpdir()
        env = claude_env(stub, root / "home")
        env["HYPERHIVE_LOG"] = "stderr"
        h = HostProcess(root=root, claude_bin=find_claude(), env=env,
                        args=["--backend", "nspawn"]).start()
        try:
            assert h.admin("spawn", name="alice")["ok"]
            wait_for(lambda: row(h, "alice")["turn_state"] == "idle", timeout=60,
                     what="alice's harness inside its container")
            yield h, stub
        finally:
            h.stop()
            shutil.rmtree(root, ignore_errors=True)


def test_an_agent_in_a_container_answers_the_operator(contained):
    h, stub = contained
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "--machine=h-alice" in ps and "--machine=hm1nd" in ps
    stub.add_rule(r"where are you", agent="alice", steps=[
        {"tool": "mcp__hyperhive__send",
         "input": {"to": "operator", "body": "in a container"}}, {"text": "ok"}])
    h.admin("send", to="alice", body="where are you?")
    wait_for(lambda: any(m["body"] == "in a container"
                         for m in h.admin("inbox")["messages"]),
             timeout=90, what="alice's answer")
    notes = h.root / "lib/agents/alice/harness/hyperhive-turn-stats.sqlite"
    assert notes.exists()          # /harness inside is the harness dir outside
    assert h.admin("stop", name="alice")["ok"]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "--machine=h-alice" not in ps


def test_claude_in_a_container_wakes_itself_through_the_spool_its_sandbox_leaves_open(
        contained):
    # bubblewrap cannot forbid user namespaces under nspawn's read-only /proc/sys, so the
    # seccomp filter stays and Bash gets no unix socket: `hyperhive wake` leaves the
    # message in the wake spool, and the harness stores it.
    h, stub = contained
    settings = json.loads((h.root / "run/agents/alice/claude-settings.json").read_text())
    assert settings["sandbox"]["network"]["allowAllUnixSockets"] is False
    stub.add_rule(r"schedule the check", agent="alice", steps=[
        {"tool": "Bash", "input": {"command": "echo $HYPERHIVE_HIVE_DIR; command -v hyperhive; "
                                              "echo done | hyperhive wake --from cron --body -; "
                                              "echo rc=$?"}},
        {"text": "done"}])
    h.admin("send", to="alice", body="schedule the check")
    text = wait_for(lambda: next(iter(stub.tool_results("alice")), None), timeout=90,
                    what="the Bash tool's result")
    lines = text.split("\n")
    assert lines[:2] == ["/run/hive", "/run/hive/bin/hyperhive"], text
    assert lines[2] == "left for the harness in /state/.hyperhive-wake", text
    assert lines[-1] == "rc=0", text
    woken = wait_for(lambda: [r["last_user_text"] for r in stub.requests
                              if "from `wake:cron`" in r["last_user_text"]],
                     timeout=90, what="a turn woken by alice's own `hyperhive wake`")
    assert "done" in woken[0]


def command_lines():
    """Every process's argv, as any local user can read it in /proc."""
    lines = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                lines.append(f.read().decode(errors="replace").split("\0"))
        except OSError:
            pass
    return lines


# What a hostile claude tries from inside its container (a script in its state dir).
ATTACK = ("id -u; id -g; cat /harness/env.json; ls /harness; "
          "echo '{}' > /run/hive/claude-settings.json; touch /usr/x; "
          "cat /proc/1/environ; echo end")


def test_a_container_maps_root_to_the_agents_own_range_and_keeps_credentials_off_argv(
        contained):
    h, stub = contained
    root = h.root
    lib = root / "lib/agents"
    base = os.stat(lib / "alice/harness").st_uid
    assert base >= 0x70010000 and base % 0x10000 == 0
    assert base != os.stat(lib / "manager/harness").st_uid
    for d in ("state", "claude", "home"):
        st = os.stat(lib / "alice" / d)
        assert (st.st_uid, st.st_mode & 0o777) == (base + 1000, 0o700)
    env_file = lib / "alice/harness/env.json"
    assert (env_file.stat().st_uid, env_file.stat().st_mode & 0o777) == (base, 0o600)
    assert json.loads(env_file.read_text())["ANTHROPIC_API_KEY"] == "sk-ant-test"
    # No credential in any command line on the host.
    [argv] = [a for a in command_lines() if "--machine=h-alice" in a]
    assert "sk-ant-test" not in " ".join(argv)
    assert not any(a.startswith("--setenv") for a in argv)
    assert f"--private-users={base}:65536" in argv

    probe = lib / "alice/state/probe.sh"
    probe.write_text(ATTACK + "\n")
    probe.chmod(0o755)
    stub.add_rule(r"probe", agent="alice", steps=[
        {"tool": "Bash", "input": {"command": "sh probe.sh 2>&1"}}, {"text": "done"}])
    h.admin("send", to="alice", body="probe")
    text = wait_for(lambda: next(iter(stub.tool_results("alice")), None), timeout=90,
                    what="the Bash tool's result")
    lines = text.split("\n")
    assert lines[:2] == ["1000", "1000"], text     # claude is uid 1000 inside
    assert "sk-ant-test" not in text and "end" in lines, text
    for refusal in ("/harness/env.json: Permission denied",
                    "'/harness': Permission denied",
                    "'/usr/x': Read-only file system",
                    "/proc/1/environ: Permission denied"):
        assert refusal in text, text
    # Bash's own sandbox or the file's owner refuses it, whichever comes first
    assert ("/run/hive/claude-settings.json: Permission denied" in text
            or "/run/hive/claude-settings.json: Read-only file system" in text), text
    assert json.loads((root / "run/agents/alice/claude-settings.json").read_text())
    assert not os.path.exists("/usr/x")
    # The processes on the host: claude is alice's range's uid 1000.
    uids = subprocess.run(["ps", "-eww", "-o", "uid,args"], capture_output=True,
                          text=True).stdout
    assert any(line.split()[0] == str(base) and "agent --name alice" in line
               for line in uids.splitlines() if line.strip())

    # From the host, the container's claude uid reaches nothing of the hive.
    for path in (h.sock, h.agent_sock("alice"), h.agent_sock("manager"),
                 root / "run/agents/manager/mcp.sock"):
        r = subprocess.run(["setpriv", f"--reuid={base + 1000}", f"--regid={base + 1000}",
                            "--clear-groups", "--", PYTHON, "-c",
                            "import socket,sys; socket.socket(socket.AF_UNIX)"
                            ".connect(sys.argv[1])", str(path)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "Permission denied" in r.stderr, path
        assert request(h.sock, {"cmd": "hello"}, timeout=1)["ok"]
        assert request(h.agent_sock("manager"), {"cmd": "hello"}, timeout=1)["ok"]


def test_ctl_logs_shows_what_a_containers_harness_logged(journald):
    # The container logs through the host's journal socket, bound in; ctl logs finds it.
    # A name of its own: the journal keeps what earlier tests' agents logged.
    name = "n" + secrets.token_hex(3)
    env = clean_env()
    env.pop("HYPERHIVE_LOG", None)
    if journald["started"]:
        env["HYPERHIVE_JOURNAL_DIR"] = STORE
    root = short_tmpdir()
    h = HostProcess(root=root, env=env, args=["--backend", "nspawn"]).start()
    try:
        assert h.admin("spawn", name=name)["ok"]
        logged = entries(f"HIVE_AGENT={name}", "HIVE_ROLE=agent", want=1, timeout=60)
        assert logged, f"{name}'s harness logged nothing to the journal"
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert f"--machine=h-{name}" in ps
        r = h.ctl("logs", name, "-n", "50")
        assert r.returncode == 0, r.stderr
        assert f"harness for {name} ready" in r.stdout, r.stdout
        assert "harness for manager ready" not in r.stdout
    finally:
        h.stop()
        shutil.rmtree(root, ignore_errors=True)
