import shutil

import pytest

# Shared fixtures of their own modules: an in-process broker with a hand-moved clock,
# a headless Chromium, a real journald, a throwaway PostgreSQL cluster and its databases.
from brokers import broker, clock  # noqa: F401
from browser import browser, context  # noqa: F401
from hive import HostProcess
from journald import journald  # noqa: F401
from pgcluster import pgcluster, pgdb  # noqa: F401


@pytest.fixture
def host():
    h = HostProcess().start()
    yield h
    h.stop()
    shutil.rmtree(h.root, ignore_errors=True)


@pytest.fixture
def host_with_alice(host):
    """A host with a second agent `alice` registered (no approval needed)."""
    assert host.admin("spawn", name="alice")["ok"]
    return host
