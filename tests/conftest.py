import shutil

import pytest
from multihost import hive_url, hosts  # noqa: F401

# Shared fixtures of their own modules: an in-process broker with a hand-moved clock,
# a headless Chromium, a real journald, a throwaway PostgreSQL cluster and its databases.
from brokers import BROKERS, broker, clock  # noqa: F401
from browser import browser, context  # noqa: F401
from hive import HostProcess, broker_args
from journald import journald  # noqa: F401
from pgcluster import pgcluster, pgdb  # noqa: F401


@pytest.fixture
def host():
    h = HostProcess().start()
    yield h
    h.stop()
    shutil.rmtree(h.root, ignore_errors=True)


@pytest.fixture(params=BROKERS)
def any_host(request):
    """A host on each of the broker's stores in turn: sqlite, then PostgreSQL."""
    h = HostProcess(args=broker_args(request)).start()
    yield h
    h.stop()
    shutil.rmtree(h.root, ignore_errors=True)


@pytest.fixture
def host_with_alice(host):
    """A host with a second agent `alice` registered (no approval needed)."""
    assert host.admin("spawn", name="alice")["ok"]
    return host


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: of the broker's stores, only sqlite's "
                            "has what the test is about")


def pytest_collection_modifyitems(config, items):
    """A `sqlite_only` test runs once, on sqlite, not once per store."""
    items[:] = [item for item in items if not (
        item.get_closest_marker("sqlite_only") and "[postgresql" in item.nodeid)]
