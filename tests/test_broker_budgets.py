"""Daily budgets in process, on a real sqlite file with a hand-moved clock: spend adds up
per agent and local day, an agent at its budget is held (its messages queue), the
manager and the operator are told once, raise and lift free it for the day, midnight
resets every budget (on injected timers), and agent.json's budget wins."""

import json

import gevent
import pytest

from brokers import system_events, take
from hyperhive import agentconfig, budgets, dashview, replies, verbs
from hyperhive.broker import Broker
from hyperhive.errors import BadArgs, Conflict, NotFound
from hyperhive.paths import Places
from hyperhive.store import Store
from test_dashboard import live_page, rendered


class Later:
    """Timers that run nothing by themselves: the test calls what was scheduled."""

    def __init__(self, clock):
        self.clock = clock
        self.scheduled = []

    def later(self, seconds, fn, *args):
        self.scheduled.append((seconds, fn, args))

    def run_next(self):
        _, fn, args = self.scheduled.pop(0)
        fn(*args)


@pytest.fixture
def timers(clock):
    return Later(clock)


@pytest.fixture
def hive(tmp_path, clock, timers):
    """A broker with a hive-wide budget of $1.00 a day, and the manager, alice and bob."""
    places = Places.from_root(tmp_path)
    places.ensure()
    store = Store(places.db)
    broker = Broker(store, places, clock=clock, daily_budget_usd=1.0, timers=timers)
    for name in ("manager", "alice", "bob"):
        broker.agents.register(name)
    broker.start()
    yield broker
    broker.stop()
    store.close()


def spend(broker, name, usd):
    broker.report(name, turn_cost_usd=usd)


def told(broker, who):
    return [e for e in system_events(take(broker, who)) if e["event"] == "budget_reached"]


def test_spend_adds_up_per_agent_and_without_a_budget_nothing_is_held(broker):
    spend(broker, "alice", 0.25)
    spend(broker, "alice", 0.5)
    spend(broker, "bob", 100.0)
    rows = {r["name"]: r for r in broker.budgets.manage()["budgets"]}
    assert (rows["alice"]["spent_usd"], rows["alice"]["turns"]) == (0.75, 2)
    assert rows["bob"]["budget_usd"] is None and rows["bob"]["held"] is False
    broker.messages.send("operator", "bob", "still delivered")
    assert [m["body"] for m in take(broker, "bob")] == ["still delivered"]


def test_an_agent_at_its_budget_is_held_and_the_manager_and_operator_are_told_once(hive):
    spend(hive, "alice", 0.6)
    assert not hive.budgets.held("alice")
    spend(hive, "alice", 0.4)                  # exactly the budget: held
    assert hive.budgets.held("alice")
    spend(hive, "alice", 0.3)                  # a turn already running when it parked
    (event,) = told(hive, "manager")
    assert (event["agent"], event["budget_usd"], event["spent_usd"]) == ("alice", 1.0, 1.0)
    assert [e["agent"] for e in told(hive, "operator")] == ["alice"]
    hive.messages.send("bob", "alice", "waits")
    assert take(hive, "alice") == []
    assert hive.messages.status("alice")["unread"] == 1      # nothing is lost
    rows = {r["name"]: r for r in hive.status_rows()}
    assert rows["alice"]["over_budget"] and not rows["bob"]["over_budget"]


def test_a_raise_hands_the_held_messages_to_the_agents_waiting_recv(hive):
    spend(hive, "alice", 1.5)
    hive.messages.send("bob", "alice", "first")
    waiting = gevent.spawn(hive.messages.recv, "alice", wait_seconds=30)
    gevent.sleep(0.05)
    assert not waiting.ready()
    reply = hive.budgets.manage("alice", raise_usd=1.0)["budget"]
    assert (reply["limit_usd"], reply["raised_usd"], reply["held"]) == (2.0, 1.0, False)
    got = waiting.get(timeout=5)
    assert [m["body"] for m in got["messages"]] == ["first"]


def test_a_receiver_parked_before_the_budget_was_reached_is_handed_nothing(hive, clock):
    waiting = gevent.spawn(hive.messages.recv, "alice", wait_seconds=0.5)
    gevent.sleep(0.05)                          # parked on an empty inbox
    spend(hive, "alice", 1.0)
    hive.messages.send("bob", "alice", "held back")
    clock.advance(1)                            # its wait is over once it looks again
    assert waiting.get(timeout=5)["messages"] == []
    assert hive.messages.status("alice")["unread"] == 1


def test_a_raised_budget_reached_again_tells_the_manager_again(hive):
    spend(hive, "alice", 1.0)
    hive.budgets.manage("alice", raise_usd=0.5)
    assert not hive.budgets.held("alice")
    spend(hive, "alice", 0.5)
    assert hive.budgets.held("alice")
    assert [e["budget_usd"] for e in told(hive, "manager")] == [1.0, 1.5]


def test_a_lift_frees_the_agent_for_the_rest_of_the_day(hive, clock):
    spend(hive, "alice", 1.0)
    hive.messages.send("bob", "alice", "after the lift")
    row = hive.budgets.manage("alice", lift=True)["budget"]
    assert (row["lifted"], row["limit_usd"], row["held"]) == (True, None, False)
    assert [m["body"] for m in take(hive, "alice")] == ["after the lift"]
    spend(hive, "alice", 50.0)
    assert not hive.budgets.held("alice")
    clock.now = budgets.next_midnight(clock())           # the lift was for that day only
    spend(hive, "alice", 1.0)
    assert hive.budgets.held("alice")


def test_at_midnight_budgets_reset_and_held_agents_take_what_waited(hive, clock, timers):
    spend(hive, "alice", 2.0)
    hive.messages.send("bob", "alice", "overnight")
    waiting = gevent.spawn(hive.messages.recv, "alice", wait_seconds=60)
    gevent.sleep(0.05)
    # The timer is set for just after the host's local midnight.
    (seconds, _, _), = timers.scheduled
    midnight = budgets.next_midnight(clock())
    assert seconds == pytest.approx(midnight - clock() + budgets.MIDNIGHT_SLACK_SECONDS)
    day = hive.budgets.day()
    clock.now = midnight + seconds - (midnight - clock())
    timers.run_next()
    assert [m["body"] for m in waiting.get(timeout=5)["messages"]] == ["overnight"]
    row = hive.budgets.row("alice")
    assert (row["spent_usd"], row["held"]) == (0.0, False) and row["day"] != day
    assert len(timers.scheduled) == 1                     # and the next midnight after it


def test_agent_json_budget_wins_over_the_hive_default(hive):
    repo = hive.configs.places.applied_repo("alice")
    repo.mkdir(parents=True)
    (repo / "agent.json").write_text(json.dumps({"daily_budget_usd": 5}))
    spend(hive, "alice", 2.0)
    spend(hive, "bob", 2.0)
    assert not hive.budgets.held("alice") and hive.budgets.held("bob")
    assert hive.budgets.row("alice")["budget_usd"] == 5


def test_spend_and_raises_survive_a_restart_of_the_broker(hive, clock, timers):
    spend(hive, "alice", 1.25)
    hive.budgets.manage("alice", raise_usd=1.0)
    again = Broker(hive.store, hive.configs.places, clock=clock, daily_budget_usd=1.0,
                   timers=timers)
    row = again.budgets.row("alice")
    assert (row["spent_usd"], row["raised_usd"], row["turns"]) == (1.25, 1.0, 1)


def test_the_manager_reaching_its_budget_is_told_to_the_operator_alone(hive):
    spend(hive, "manager", 1.0)
    assert hive.budgets.held("manager")
    assert told(hive, "operator")[0]["agent"] == "manager"
    assert hive.messages.status("manager")["unread"] == 0


def test_what_the_operator_may_ask_of_a_budget(hive, broker):
    with pytest.raises(BadArgs):
        hive.budgets.manage(raise_usd=1.0)
    with pytest.raises(BadArgs):
        hive.budgets.manage("alice", raise_usd=1.0, lift=True)
    with pytest.raises(BadArgs):
        hive.budgets.manage("alice", raise_usd=-1.0)
    with pytest.raises(NotFound):
        hive.budgets.manage("nobody", lift=True)
    with pytest.raises(Conflict, match="no daily budget"):
        broker.budgets.manage("alice", raise_usd=1.0)       # no budget to raise
    assert hive.budgets.manage("alice")["budget"]["limit_usd"] == 1.0


def test_the_turn_cost_a_report_may_carry_is_bounded():
    report = verbs.BY_CMD["report"]
    assert report.check({"turn_cost_usd": 0.02}) == {"turn_cost_usd": 0.02}
    for bad in (-0.01, 1000.01, "1", True, float("inf")):
        with pytest.raises(BadArgs):
            report.check({"turn_cost_usd": bad})
    raising = verbs.BY_CMD["budget"]
    for bad in (0, -5, 1e7, "10"):
        with pytest.raises(BadArgs):
            raising.check({"name": "alice", "raise_usd": bad})


@pytest.mark.parametrize("value, ok", [(5, True), (0.5, True), (None, True), (0, False),
                                       (-1, False), (True, False), ("5", False),
                                       (1e7, False)])
def test_agent_json_takes_a_positive_daily_budget_or_none(value, ok):
    problem = agentconfig.settings_problem({"daily_budget_usd": value})
    assert (problem is None) == ok, problem


def test_old_spend_rows_go_with_retention(hive, clock):
    spend(hive, "alice", 0.5)
    clock.advance(100 * 86400)
    spend(hive, "alice", 0.25)
    done = hive.prune()
    assert done["spend"] == 1
    assert hive.budgets.row("alice")["spent_usd"] == 0.25


def test_a_config_that_lowers_the_budget_below_todays_spend_is_told_when_the_agent_starts(hive):
    repo = hive.configs.places.applied_repo("alice")
    repo.mkdir(parents=True)
    (repo / "agent.json").write_text(json.dumps({"daily_budget_usd": 5}))
    spend(hive, "alice", 2.0)
    (repo / "agent.json").write_text(json.dumps({"daily_budget_usd": 1.5}))
    hive.configs.forget("alice")                    # as an approved config's rollout does
    assert hive.budgets.held("alice") and told(hive, "manager") == []
    hive.report("alice", status="online")           # its harness came up on it
    hive.report("alice", status="online")
    assert [(e["agent"], e["budget_usd"]) for e in told(hive, "manager")] == [("alice", 1.5)]


def test_budget_reached_reads_as_one_sentence_in_recv_and_on_the_dashboard(hive):
    spend(hive, "alice", 1.25)
    (message,) = [m for m in take(hive, "manager") if m["from"] == "system"]
    text = replies.format_message(message)
    assert "`budget_reached`: alice reached its daily budget: $1.25 of $1.00 spent on" in text
    event, line = dashview.system_event(message["body"])
    assert event == "budget_reached" and line.startswith("alice reached its daily budget")


def test_a_turns_cost_and_midnight_redraw_the_budgets_panel_and_the_agents_rows(hive, clock):
    live, hello, seq = live_page(hive)
    assert 'id="budget-alice"' in hello["budgets"] and "$0.00 of $1.00" in hello["budgets"]
    spend(hive, "alice", 1.5)
    (parts,) = [p for k, p in rendered(hive, live, seq) if k == "budget_changed"]
    assert 'class="budget is-over"' in parts["budgets"] and "$1.50 of $1.00" in parts["budgets"]
    assert 'class="badge b-budget"' in parts["agents"]
    seq = hive.last_seq()
    clock.now = budgets.next_midnight(clock())
    hive.budgets.new_day()
    (parts,) = [p for k, p in rendered(hive, live, seq) if k == "budget_changed"]
    assert "$0.00 of $1.00" in parts["budgets"] and "b-budget" not in parts["agents"]
