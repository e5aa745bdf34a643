"""A hive on PostgreSQL keeps its database the host's alone: no password on a command line
(every user of the machine reads those), and none of libpq's settings in the environment
an agent's harness and claude inherit."""

import shutil
import subprocess
from pathlib import Path

from hive import HostProcess, clean_env, wait_for


def environ(pid):
    return dict(v.split("=", 1) for v in Path(f"/proc/{pid}/environ").read_bytes()
                .decode(errors="replace").split("\0") if "=" in v)


def test_a_broker_url_carrying_a_password_is_refused_without_repeating_it(pgcluster, pgdb):
    url = pgcluster.url(pgdb).replace("hyperhive@", "hyperhive:hunter2-pw@")
    h = HostProcess(args=["--broker", url])
    try:
        h.start(wait=False)
        assert h.proc.wait(20) == 2
        log = h.log()
        assert "password" in log and "pgpass" in log.lower()
        assert "hunter2-pw" not in log
        assert not h.sock.exists()
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


def test_libpq_settings_of_the_host_never_reach_an_agents_processes(pgcluster, pgdb):
    env = clean_env(PGPASSWORD="hunter2-pw", PGAPPNAME="the-hosts-own")
    h = HostProcess(env=env, args=["--broker", pgcluster.url(pgdb)]).start()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        wait_for(lambda: (h.root / "run/agents/alice/mcp.sock").exists(),
                 what="alice's harness")
        pids = subprocess.run(["pgrep", "-f", f"agent --name alice --hive-dir {h.root}"],
                              capture_output=True, text=True).stdout.split()
        assert pids, "alice's harness is running"
        for pid in pids:
            seen = environ(pid)
            assert not [k for k in seen if k.startswith("PG")], seen
            assert "hunter2-pw" not in "".join(seen.values())
            assert "postgresql://" not in Path(f"/proc/{pid}/cmdline").read_text()
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


def test_a_host_whose_database_is_unreachable_says_so_and_exits(tmp_path):
    url = f"postgresql://hyperhive@/nowhere?host={tmp_path}&port=5432"
    h = HostProcess(args=["--broker", url])
    try:
        h.start(wait=False)
        assert h.proc.wait(20) == 2
        assert "the hive's database is unreachable" in h.log()
        assert "Traceback" not in h.log()
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


def test_an_agent_naming_unknown_agents_does_not_make_its_host_read_the_registry_each_time(
        pgcluster, pgdb, tmp_path):
    from hyperhive.broker import Broker
    from hyperhive.errors import NotFound
    from hyperhive.paths import Places
    from hyperhive.store import Store
    places = Places.from_root(tmp_path)
    places.ensure()
    store = Store(pgcluster.url(pgdb))
    broker = Broker(store, places, host_name="north")
    try:
        broker.agents.register("alice")
        seen = []
        store._conn.set_trace_callback(seen.append)
        for i in range(50):
            try:
                broker.messages.send("alice", f"ghost{i}", "hello?")
            except NotFound:
                pass
            broker.messages.send("alice", "operator", "to the operator")
        store._conn.set_trace_callback(None)
        reads = [s for s in seen if 'FROM "agents"' in s]
        assert len(reads) <= 2, len(reads)
    finally:
        broker.stop()
        store.close()
