"""Hosts of one hive on one real PostgreSQL database, each a real host process with a
root of its own: the fixtures and helpers the several-hosts suites share."""

import shutil

import pytest

from hive import HostProcess


def start_host(url, name, dashboard_port=0):
    return HostProcess(args=["--broker", url, "--host-name", name],
                       dashboard_port=dashboard_port).start()


@pytest.fixture
def hive_url(pgcluster, pgdb):
    return pgcluster.url(pgdb)


@pytest.fixture
def hosts(hive_url):
    """Hosts `north` (the first: it spawns the manager) and `south`, on one database;
    alice runs on north, bob on south."""
    started = []
    try:
        north = start_host(hive_url, "north")
        started.append(north)
        south = start_host(hive_url, "south")
        started.append(south)
        assert north.admin("spawn", name="alice")["ok"]
        assert south.admin("spawn", name="bob")["ok"]
        yield north, south
    finally:
        for h in started:
            h.stop()
            shutil.rmtree(h.root, ignore_errors=True)


def ok(reply):
    assert reply["ok"], reply
    return reply


def rows_by_name(host):
    return {r["name"]: r for r in ok(host.admin("status"))["agent_statuses"]}
