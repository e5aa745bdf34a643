import shutil

import pytest

from hive import HostProcess


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
