"""An in-process broker with a clock the test moves by hand, on a real sqlite file and
again on a real PostgreSQL database: every test that takes `broker` runs on both."""

import json

import gevent
import pytest

from hyperhive.broker import Broker
from hyperhive.paths import Places
from hyperhive.store import Store

START = 1_700_000_000.0


class Clock:
    """Time as the test says it is: `advance` moves it; nothing sleeps."""

    def __init__(self, now=START):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


def database(request, places):
    """Where the store of a test parametrised with BROKERS keeps its rows."""
    if request.param == "sqlite":
        return places.db
    cluster = request.getfixturevalue("pgcluster")
    return cluster.url(request.getfixturevalue("pgdb"))


BROKERS = ("sqlite", "postgresql")


@pytest.fixture(params=BROKERS)
def broker(request, tmp_path, clock):
    """A broker with no backend and two agents, alice and bob (and the manager)."""
    places = Places.from_root(tmp_path)
    places.ensure()
    store = Store(database(request, places))
    broker = Broker(store, places, clock=clock)
    for name in ("manager", "alice", "bob"):
        broker.agents.register(name)
    yield broker
    broker.stop()
    store.close()


def take(broker, name, max=32):
    """What `name` would receive now, without waiting."""
    return broker.messages.recv(name, max=max)["messages"]


def system_events(messages):
    return [json.loads(m["body"]) for m in messages if m["from"] == "system"]


def race(calls):
    """Run every call in its own greenlet at once; each one's value or exception."""
    greenlets = [gevent.spawn(call) for call in calls]
    gevent.joinall(greenlets)
    return [g.value if g.successful() else g.exception for g in greenlets]
