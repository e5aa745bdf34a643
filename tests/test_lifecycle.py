"""The lifecycle's parts that need no running agent: the crash watch's back-off on a
hand-moved clock, and drafts made and discarded over a real registry and real repos."""

import pytest

from brokers import Clock
from hyperhive.crashwatch import CRASH_LIMIT, CRASH_WINDOW, CrashWatch
from hyperhive.errors import Conflict
from hyperhive.lifecycle import Lifecycle


def test_crashes_back_off_doubling_then_give_up():
    clock = Clock()
    watch = CrashWatch(clock)
    delays = [watch.crashed("alice") for _ in range(CRASH_LIMIT)]
    assert delays == [1, 2, 4, 8, 16]
    assert watch.crashed("alice") is None and watch.failed("alice")


def test_crashes_older_than_the_window_are_forgotten():
    clock = Clock()
    watch = CrashWatch(clock)
    for _ in range(CRASH_LIMIT):
        watch.crashed("alice")
    clock.advance(CRASH_WINDOW)
    assert watch.crashed("alice") == 1 and not watch.failed("alice")


class Told:
    """A report that keeps what the lifecycle told it."""

    def __init__(self):
        self.heard = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.heard.append((name, args, kwargs))


@pytest.fixture
def lifecycle(broker):
    places = broker.bus.places
    return Lifecycle(places, broker.agents, broker.configs, Told(),
                     open_socket=lambda name, port: None, close_socket=lambda name: None,
                     port_base=30000)


def test_a_draft_has_dirs_and_repos_and_is_discarded_once(broker, lifecycle):
    made = lifecycle.create_draft("dora", "a tester", by="manager")
    assert lifecycle.is_draft("dora") and lifecycle.draft_names() == ["dora"]
    assert (broker.bus.places.config_repo("dora") / ".git").exists()
    assert made["port"] == lifecycle.port("dora")
    with pytest.raises(Conflict, match="draft"):
        lifecycle.create_draft("dora")
    assert lifecycle.discard_draft("dora") is True
    assert lifecycle.discard_draft("dora") is False
    assert not broker.bus.places.agent_dir("dora").exists()


def test_two_names_on_one_page_port_are_refused(broker, lifecycle):
    taken = lifecycle.check_port("dora")
    lifecycle.create_draft("dora")
    clash = next(n for n in (f"x{i}" for i in range(100000))
                 if lifecycle.default_port(n) == taken and n != "dora")
    with pytest.raises(Conflict, match="port"):
        lifecycle.check_port(clash)
