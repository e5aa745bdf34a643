"""The throwaway PostgreSQL cluster (tests/pgcluster.py) and the driver under gevent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import peewee
import psycopg2
import pytest

from pgcluster import PgCluster, process_alive

HERE = Path(__file__).resolve().parent


def one_value(dsn, sql, *args):
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()[0]
    finally:
        conn.close()


def under_gevent(scenario, dsn):
    proc = subprocess.run([sys.executable, str(HERE / "pggreen.py"), scenario, dsn],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_cluster_answers_over_a_unix_socket_in_its_own_dir(pgcluster):
    assert pgcluster.socket_path.is_socket()
    assert pgcluster.socket_path.parent == pgcluster.dir
    dsn = pgcluster.dsn()
    assert one_value(dsn, "SELECT 1") == 1
    # no TCP, durable commits, and not run by root
    assert one_value(dsn, "SHOW listen_addresses") == ""
    assert one_value(dsn, "SHOW fsync") == "on"
    assert one_value(dsn, "SHOW synchronous_commit") == "on"
    assert os.stat(pgcluster.datadir).st_uid != 0
    status = Path(f"/proc/{pgcluster.postmaster_pid}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert "0" not in uids
    assert os.stat(pgcluster.dir).st_mode & 0o077 == 0


seen_databases = []


@pytest.mark.parametrize("turn", [1, 2])
def test_each_test_gets_a_fresh_database_that_is_dropped_after_it(pgcluster, pgdb, turn):
    dsn = pgcluster.dsn(pgdb)
    assert one_value(dsn, "SELECT current_database()") == pgdb
    assert pgdb not in seen_databases
    # what an earlier test made is gone with its database
    assert one_value(dsn, "SELECT to_regclass('public.marker') IS NULL")
    for earlier in seen_databases:
        assert not one_value(dsn, "SELECT count(*) FROM pg_database WHERE datname = %s",
                             earlier)
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE marker (turn int)")
        cur.execute("INSERT INTO marker VALUES (%s)", (turn,))
    conn.close()
    seen_databases.append(pgdb)


def test_a_greenlet_parked_in_listen_wakes_on_notify_while_others_run(pgcluster, pgdb):
    got = under_gevent("listen", pgcluster.dsn(pgdb))
    assert got["payload"] == "hello"
    # one wakeup: the listener slept on its socket until the NOTIFY came, no polling
    assert got["wakeups"] == 1
    assert got["wake_ms"] < 200
    # the ticker (every 10 ms) kept going for the 0.3 s the listener was parked
    assert got["ticks_while_parked"] >= 0.5 * got["parked_s"] / 0.01


def test_a_query_in_one_greenlet_does_not_block_another(pgcluster, pgdb):
    got = under_gevent("query", pgcluster.dsn(pgdb))
    assert got["sleep_s"] >= 0.5
    assert got["queries_meanwhile"] >= 20
    assert got["ticks_meanwhile"] >= 20


def test_peewee_opens_the_database_through_psycopg2_and_creates_a_table(pgcluster, pgdb):
    db = peewee.PostgresqlDatabase(**pgcluster.connect_args(pgdb))

    class Note(peewee.Model):
        body = peewee.TextField()

        class Meta:
            database = db

    with db:
        db.create_tables([Note])
        Note.create(body="first")
        assert [n.body for n in Note.select()] == ["first"]
        assert "note" in db.get_tables()
        assert isinstance(db.connection(), psycopg2.extensions.connection)


def test_a_stopped_cluster_leaves_no_process_and_no_dir():
    cluster = PgCluster().start()
    processes, where = cluster.processes(), cluster.dir
    assert len(processes) >= 2 and all(process_alive(p) for p in processes)
    cluster.stop()
    assert not any(process_alive(p) for p in processes)
    assert not where.exists()


def test_a_cluster_whose_server_was_killed_still_cleans_up():
    cluster = PgCluster().start()
    processes, where = cluster.processes(), cluster.dir
    os.kill(cluster.postmaster_pid, 9)
    cluster.stop()
    assert not any(process_alive(p) for p in processes)
    assert not where.exists()


FAILING_TEST = '''
import json, os
from pgcluster import pgcluster, pgdb  # noqa: F401

def test_that_fails(pgcluster, pgdb):
    with open(os.environ["PG_SEEN"], "w") as f:
        json.dump({"dir": str(pgcluster.dir), "pids": pgcluster.processes()}, f)
    assert False, "on purpose"
'''


def test_a_failing_test_leaves_no_cluster_behind(tmp_path):
    (tmp_path / "test_inner.py").write_text(FAILING_TEST)
    seen = tmp_path / "seen.json"
    env = {**os.environ, "PG_SEEN": str(seen),
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert proc.returncode == 1 and "on purpose" in proc.stdout, proc.stdout + proc.stderr
    got = json.loads(seen.read_text())
    assert got["pids"] and not any(process_alive(p) for p in got["pids"])
    assert not Path(got["dir"]).exists()
