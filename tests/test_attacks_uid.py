"""A hostile agent's shell, run as the agent's own uid against a real host running as root.

Each attack runs through `setpriv` as the uid the host gave the agent (the uid its
claude runs as), does the real thing (connects the socket, reads the file, writes
the file) and must be refused; nothing may have changed, and the host must still
answer on its admin socket and on another agent's socket within a second.
"""

import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import urllib.parse

import pytest

from anthropic_stub import Stub, claude_env, find_claude
from hive import (
    COOKIE,
    ENTRY,
    PYTHON,
    HostProcess,
    clean_env,
    free_port,
    open_link,
    port_block,
    request,
    short_tmpdir,
    wait_for,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="agents get uids of their own only from a root host")

CONNECT = ("import socket, sys\n"
           "s = socket.socket(socket.AF_UNIX)\n"
           "try:\n"
           "    s.connect(sys.argv[1])\n"
           "except OSError as exc:\n"
           "    print('refused', exc.errno); sys.exit(3)\n"
           "print('connected')\n")


@pytest.fixture(scope="module")
def hive():
    h = HostProcess(env=clean_env()).start()
    try:
        for name in ("alice", "bob"):
            assert h.admin("spawn", name=name)["ok"]
        for name in ("alice", "bob"):
            wait_for(lambda n=name: (h.root / f"run/agents/{n}/mcp.sock").exists(),
                     what=f"{name}'s harness socket")
        yield h
    finally:
        h.stop()


def ids(h, name):
    st = os.stat(h.root / "lib/agents" / name / "state")
    return st.st_uid, st.st_gid


def as_agent(h, name, *argv, env=None):
    uid, gid = ids(h, name)
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                           "--", *argv], capture_output=True, text=True, timeout=30,
                          env=env or {"PATH": "/usr/bin:/bin", "HOME": "/"},
                          cwd=str(h.root / "lib/agents" / name / "state"))


def connect_as(h, name, path):
    return as_agent(h, name, PYTHON, "-c", CONNECT, str(path))


def assert_hive_answers(h):
    """The host still answers the operator and another agent, within a second."""
    assert_hive_answers_for(h, "bob")


def assert_hive_answers_for(h, other):
    assert request(h.sock, {"cmd": "hello"}, timeout=1)["ok"]
    assert request(h.agent_sock(other), {"cmd": "hello"}, timeout=1)["ok"]


def test_agents_run_as_distinct_unprivileged_uids(hive):
    alice, bob = ids(hive, "alice"), ids(hive, "bob")
    assert alice != bob and alice[0] >= 0x70000000 and bob[0] >= 0x70000000
    for name in ("alice", "bob"):
        for d in ("state", "claude", "home"):
            st = os.stat(hive.root / "lib/agents" / name / d)
            assert (st.st_uid, st.st_mode & 0o777) == (ids(hive, name)[0], 0o700)


def test_an_agent_cannot_connect_the_admin_socket(hive):
    r = connect_as(hive, "alice", hive.sock)
    assert r.returncode == 3 and "refused 13" in r.stdout
    assert_hive_answers(hive)


def test_an_agent_cannot_connect_its_own_broker_socket(hive):
    r = connect_as(hive, "alice", hive.agent_sock("alice"))
    assert r.returncode == 3 and "refused 13" in r.stdout
    assert_hive_answers(hive)


def test_an_agent_cannot_connect_any_socket_of_another_agent(hive):
    socks = sorted((hive.root / "run/agents/bob").glob("*.sock"))
    assert {p.name for p in socks} >= {"broker.sock", "mcp.sock", "mcp-tools.sock"}
    for path in socks:
        r = connect_as(hive, "alice", path)
        assert r.returncode == 3 and "refused 13" in r.stdout, path
        assert_hive_answers(hive)


def test_an_agent_cannot_read_another_agents_dirs_or_the_hives_files(hive):
    secret = hive.root / "lib/agents/bob/claude/.credentials.json"
    secret.write_text('{"token": "bob-secret"}')
    os.chown(secret, *ids(hive, "bob"))
    lib = hive.root / "lib"
    targets = [secret, lib / "agents/bob/state", lib / "agents/bob/claude",
               lib / "agents/bob/home", lib / "agents/alice/harness", lib / "agents/bob/harness",
               lib / "broker.sqlite", lib / "applied", lib / "applied/alice/agent.json",
               lib / "agents"]
    for target in targets:
        verb = "ls" if target.is_dir() else "cat"
        r = as_agent(hive, "alice", verb, str(target))
        assert r.returncode != 0 and "Permission denied" in r.stderr, target
        assert "bob-secret" not in r.stdout
    assert_hive_answers(hive)


def test_an_agent_cannot_read_its_harness_environment(hive):
    pid = int(subprocess.run(["pgrep", "-f", "agent --name alice"], capture_output=True,
                             text=True).stdout.split()[0])
    r = as_agent(hive, "alice", "cat", f"/proc/{pid}/environ")
    assert r.returncode != 0 and "Permission denied" in r.stderr
    assert_hive_answers(hive)


def test_an_agent_cannot_change_what_the_harness_gives_claude(hive):
    hive_dir = hive.root / "run/agents/alice"
    before = {p.name: p.read_bytes() for p in hive_dir.glob("claude-*")}
    assert set(before) == {"claude-settings.json", "claude-mcp-config.json",
                           "claude-system-prompt.md"}
    for name in before:
        path = hive_dir / name
        assert (path.stat().st_uid, path.stat().st_mode & 0o777) == (0, 0o644)
        for script in (f"echo '{{}}' > {path}", f"rm -f {path}",
                       f"echo '{{}}' > {path}.new && mv {path}.new {path}"):
            r = as_agent(hive, "alice", "sh", "-c", script)
            assert r.returncode != 0 and "Permission denied" in r.stderr, script
    assert {p.name: p.read_bytes() for p in hive_dir.glob("claude-*")} == before
    assert_hive_answers(hive)


def test_an_agent_cannot_write_the_harness_dir(hive):
    harness = hive.root / "lib/agents/alice/harness"
    before = sorted(p.name for p in harness.iterdir())
    for script in (f"echo haiku > {harness}/hyperhive-model",
                   f"ln -s /etc/shadow {harness}/hyperhive-session"):
        r = as_agent(hive, "alice", "sh", "-c", script)
        assert r.returncode != 0 and "Permission denied" in r.stderr, script
    assert sorted(p.name for p in harness.iterdir()) == before
    assert_hive_answers(hive)


def test_a_planted_harness_file_in_the_state_dir_is_not_believed(hive):
    state = hive.root / "lib/agents/alice/state"
    r = as_agent(hive, "alice", "sh", "-c",
                 f"echo opus-by-agent > {state}/hyperhive-model")
    assert r.returncode == 0
    assert hive.admin("restart", name="alice")["ok"]
    wait_for(lambda: (hive.root / "run/agents/alice/mcp.sock").exists(), what="alice back")
    harness = hive.root / "lib/agents/alice/harness"
    wait_for(lambda: (harness / "hyperhive-events.sqlite").exists(), what="alice's harness")
    assert not (harness / "hyperhive-model").exists()
    assert (state / "hyperhive-model").read_text() == "opus-by-agent\n"
    assert_hive_answers(hive)


def test_the_agents_own_harness_socket_works_from_its_uid(hive):
    env = {"PATH": "/usr/bin:/bin", "HOME": "/", "HYPERHIVE_LOG": "stderr",
           "HYPERHIVE_HIVE_DIR": str(hive.root / "run/agents/alice")}
    r = as_agent(hive, "alice", PYTHON, ENTRY, "wake", "--from", "cron", "--body",
                 "from alice's own shell", "--no-retry", env=env)
    assert r.returncode == 0 and "stored as message #" in r.stdout, r.stderr
    msg_id = int(r.stdout.split("#")[1])
    with sqlite3.connect(hive.root / "lib/broker.sqlite") as db:
        row = db.execute("select sender, recipient, body from messages where id = ?",
                         (msg_id,)).fetchone()
    assert row[1:] == ("alice", "from alice's own shell") and row[0].endswith("cron")
    assert_hive_answers(hive)


def test_the_hives_files_are_root_only():
    h = HostProcess(env=clean_env()).start()
    try:
        lib, run = h.root / "lib", h.root / "run"
        modes = {h.root: 0o711, lib: 0o711, lib / "agents": 0o711, lib / "applied": 0o700,
                 run: 0o711, run / "agents": 0o711, lib / "agents/manager": 0o711,
                 lib / "broker.sqlite": 0o600, h.sock: 0o660,
                 lib / "agents/manager/harness": 0o700, run / "agents/manager": 0o750,
                 run / "agents/manager/broker.sock": 0o600}
        for path, mode in modes.items():
            assert os.stat(path).st_mode & 0o777 == mode, path
        manager = os.stat(lib / "agents/manager/state").st_uid
        assert os.stat(lib / "agents/manager/config").st_uid == manager
        assert h.admin("spawn", name="alice")["ok"]
        # The manager's uid owns every proposed config repo: it edits them.
        assert os.stat(lib / "agents/alice/config").st_uid == manager
        assert os.stat(lib / "agents/alice/state").st_uid != manager
    finally:
        h.stop()


def test_a_destroyed_agent_keeps_its_uid_and_a_purged_one_frees_it():
    h = HostProcess(env=clean_env()).start()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        uid = ids(h, "alice")[0]
        assert h.admin("destroy", name="alice")["ok"]
        assert h.admin("spawn", name="bob")["ok"]
        assert ids(h, "bob")[0] != uid
        assert h.admin("spawn", name="alice")["ok"]           # revived with its files
        assert ids(h, "alice")[0] == uid
        assert h.admin("destroy", name="alice", purge=True)["ok"]
        assert h.admin("spawn", name="carol")["ok"]
        assert ids(h, "carol")[0] == uid                      # the freed slot is reused
    finally:
        h.stop()


def test_two_hives_on_one_machine_never_run_agents_on_the_same_uid():
    # Each hive numbers its slots from 0 and stopping an agent ends every process of its
    # uid: the second hive's alice must not be the first one's.
    first = HostProcess(env=clean_env()).start()
    second = None
    try:
        assert first.admin("spawn", name="alice")["ok"]
        second = HostProcess(env=clean_env()).start()
        assert second.admin("spawn", name="alice")["ok"]
        uids = [ids(h, name)[0] for h in (first, second) for name in ("manager", "alice")]
        assert len(set(uids)) == 4, uids
        # The first hive stopping its alice leaves the second one's claude uid alone.
        assert first.admin("stop", name="alice")["ok"]
        assert second.admin("status")["ok"]
        row = next(r for r in second.admin("status")["agent_statuses"] if r["name"] == "alice")
        assert row["running"], row
    finally:
        for h in (first, second):
            if h is not None:
                h.stop()


def test_a_hive_takes_its_own_uids_again_when_it_restarts():
    h = HostProcess(env=clean_env()).start()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        before = ids(h, "alice")
        h.stop()
        h.start()
        wait_for(lambda: next(r for r in h.admin("status")["agent_statuses"]
                              if r["name"] == "alice")["running"], what="alice again")
        assert ids(h, "alice") == before
    finally:
        h.stop()


def test_a_turns_claude_runs_as_the_agents_uid():
    with Stub() as stub:
        root = short_tmpdir()
        env = claude_env(stub, root / "home")
        env["HYPERHIVE_LOG"] = "stderr"
        h = HostProcess(root=root, claude_bin=find_claude(), env=env).start()
        try:
            assert h.admin("spawn", name="alice")["ok"]
            wait_for(lambda: next(r for r in h.admin("status")["agent_statuses"]
                                  if r["name"] == "alice")["turn_state"] == "idle",
                     timeout=60, what="alice online")
            stub.add_rule(r"who runs you", agent="alice", steps=[
                {"tool": "Bash", "input": {"command": "id -u; id -g; echo $HOME $USER"}},
                {"text": "done"}])
            assert h.admin("send", to="alice", body="who runs you?")["ok"]

            def result():
                for req in stub.requests:
                    for msg in req["body"].get("messages", []):
                        for block in msg.get("content") or []:
                            if isinstance(block, dict) and block.get("type") == "tool_result":
                                return str(block.get("content"))
                return None
            text = wait_for(result, timeout=90, what="the Bash tool's result")
            uid, gid = ids(h, "alice")
            assert text.split()[:4] == [str(uid), str(gid),
                                        str(root / "lib/agents/alice/home"), "alice"]
        finally:
            h.stop()


def session(admin_sock):
    """The operator's session cookie for the host behind `admin_sock`."""
    reply = request(admin_sock, {"cmd": "login_url"})
    assert reply["ok"], reply
    return f"{COOKIE}={open_link(urllib.parse.urlsplit(reply['url']))}"


def dashboard_get(port, path, cookie):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": cookie})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def dashboard_up(port, cookie):
    try:
        return dashboard_get(port, "/api/state", cookie)[0] == 200
    except OSError:
        return False


def test_a_root_host_shows_no_isolation_warning():
    h = HostProcess(env=clean_env(), dashboard_port=free_port()).start()
    try:
        cookie = h.cookie
        wait_for(lambda: dashboard_up(h.dashboard_port, cookie), what="the dashboard")
        state = dashboard_get(h.dashboard_port, "/api/state", cookie)[1]
        assert json.loads(state)["isolated"] is True
        assert 'id="not-isolated"' not in dashboard_get(h.dashboard_port, "/", cookie)[1]
        assert "not isolated" not in h.log()
    finally:
        h.stop()


def test_a_host_that_is_not_root_says_plainly_that_agents_are_not_isolated():
    user = 0x7000FFFF           # an unprivileged uid outside every agent slot
    root = short_tmpdir()
    os.chown(root, user, user)
    port = free_port()
    argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--", PYTHON,
            ENTRY, "host", "--root", str(root), "--dashboard-port", str(port),
            "--agent-port-base", str(port_block()), "--claude-bin", "/bin/false"]
    with open(root / "host.log", "wb") as log:
        os.chown(root / "host.log", user, user)
        proc = subprocess.Popen(argv, env=clean_env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_for(lambda: os.path.exists(root / "run/host.sock"), what="the host's socket")
        cookie = session(root / "run/host.sock")
        wait_for(lambda: dashboard_up(port, cookie), what="the dashboard")
        assert json.loads(dashboard_get(port, "/api/state", cookie)[1])["isolated"] is False
        page = dashboard_get(port, "/", cookie)[1]
        assert 'id="not-isolated"' in page and "agents are not isolated" in page
        warnings = [line for line in (root / "host.log").read_text().splitlines()
                    if "not isolated" in line]
        assert len(warnings) == 1 and "WARNING" in warnings[0]
        # Everything is that user's, and still not anyone else's to read.
        assert os.stat(root / "lib/agents/manager/state").st_uid == user
        assert os.stat(root / "lib/broker.sqlite").st_mode & 0o777 == 0o600
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_drafts_state_dir_is_the_managers_until_its_first_boot():
    h = HostProcess(env=clean_env()).start()
    try:
        assert h.agent("manager", "request_spawn_draft", name="scout")["ok"]
        state = h.root / "lib/agents/scout/state"
        assert os.stat(state).st_uid == ids(h, "manager")[0]
        r = as_agent(h, "manager", "sh", "-c", f"echo '# scout' > {state}/notes.md")
        assert r.returncode == 0, r.stderr
        config = h.root / "lib/agents/scout/config"
        r = as_agent(h, "manager", "git", "-C", str(config), "-c", "user.name=m",
                     "-c", "user.email=m@h", "commit", "-q", "--allow-empty", "-m", "go")
        assert r.returncode == 0, r.stderr
        sha = as_agent(h, "manager", "git", "-C", str(config), "rev-parse", "HEAD").stdout
        assert h.agent("manager", "request_spawn_commit", name="scout",
                       commit_ref=sha.strip())["ok"]
        assert h.admin("approve", id=h.admin("pending")["approvals"][0]["id"])["ok"]
        scout = ids(h, "scout")[0]
        assert scout != ids(h, "manager")[0]
        assert os.stat(state / "notes.md").st_uid == scout
        r = as_agent(h, "manager", "cat", str(state / "notes.md"))
        assert r.returncode != 0 and "Permission denied" in r.stderr
        assert_hive_answers_for(h, "manager")
    finally:
        h.stop()


def test_nothing_of_an_agents_uid_outlives_its_stop():
    h = HostProcess(env=clean_env()).start()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        uid, gid = ids(h, "alice")
        # A process that left the harness's session and ignores SIGTERM and SIGHUP.
        stray = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={gid}",
                                  "--clear-groups", "--", "sh", "-c",
                                  "trap '' TERM HUP; while :; do sleep 1; done"],
                                 start_new_session=True)
        assert h.admin("stop", name="alice")["ok"]
        wait_for(lambda: stray.poll() is not None, timeout=5, what="the stray to be ended")
        assert stray.returncode == -9
        assert_hive_answers_for(h, "manager")
    finally:
        if stray.poll() is None:
            stray.kill()
        h.stop()


def test_an_old_agents_files_move_to_the_harness_dir_once_and_links_are_dropped():
    h = HostProcess(env=clean_env()).start()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        harness = h.root / "lib/agents/alice/harness"
        wait_for(lambda: (harness / "hyperhive-events.sqlite").exists(), what="alice's events")
        assert h.admin("stop", name="alice")["ok"]
        # The layout before the harness dir: its files in the state dir, the agent's.
        state = h.root / "lib/agents/alice/state"
        for path in harness.iterdir():
            if path.name.startswith("hyperhive-"):
                shutil.move(path, state / path.name)
        shutil.rmtree(harness)
        (state / "hyperhive-model").write_text("sonnet\n")
        victim = h.root / "victim"
        victim.write_text("not the agent's")
        (state / "hyperhive-session").symlink_to(victim)
        assert h.admin("start", name="alice")["ok"]
        wait_for(lambda: (harness / ".moved-from-state").exists(), what="the move")
        assert (harness / "hyperhive-model").read_text() == "sonnet\n"
        assert (harness / "hyperhive-events.sqlite").stat().st_uid == 0
        assert not (state / "hyperhive-events.sqlite").exists()
        assert not (harness / "hyperhive-session").exists()     # a link is not the harness's
        assert victim.read_text() == "not the agent's"
    finally:
        h.stop()
