"""Daily spend budgets: what each agent spent today, and holding its messages once that
reaches its budget.

Each turn's cost reaches the host in its harness's `report` as the turn ends (claude's
own figure; see README, Security, for how far it is trusted) and is added to the
agent's row for the host's local day, in the transaction that may also tell the
manager and the operator `budget_reached`. An agent whose spend today is at or over
its budget (agent.json's `daily_budget_usd`, else HYPERHIVE_DAILY_BUDGET_USD, plus the
operator's raises for the day) is *held*: `recv` hands it nothing, its messages keep
queueing. The operator raises or lifts the budget for the day; at the host's local
midnight a new day starts with a new row, and held agents are handed their messages.

Today's rows are kept in memory (this host is their only writer, or in a hive of
several hosts hears of every other's change: `heard`), so the check on every `recv`
asks nothing of the database.
"""

import datetime

from .errors import BadArgs, Conflict
from .names import MANAGER, OPERATOR
from .timers import Timers

# After midnight by this much, so a timer that fires a little early still finds the new day.
MIDNIGHT_SLACK_SECONDS = 1.0


def local_day(ts):
    """The host's local date at `ts`, as YYYY-MM-DD."""
    return datetime.datetime.fromtimestamp(ts).date().isoformat()


def next_midnight(ts):
    """The time the host's local day after `ts` starts."""
    tomorrow = datetime.datetime.fromtimestamp(ts).date() + datetime.timedelta(days=1)
    return datetime.datetime.combine(tomorrow, datetime.time()).timestamp()


class Budgets:
    def __init__(self, bus, agents, budget_of=lambda name: None, default_usd=None,
                 timers=None):
        """`budget_of(name)`: the agent's agent.json `daily_budget_usd` (None: none);
        `default_usd`: the hive's HYPERHIVE_DAILY_BUDGET_USD (None: none)."""
        self.bus = bus
        self.store = bus.store
        self.agents = agents
        self.budget_of = budget_of
        self.default_usd = default_usd
        self.timers = timers or Timers(bus.clock)
        self._day = None
        self._ends_at = float("-inf")       # when self._day ends
        self._rows = {}                     # agent -> today's row
        self._running = False

    # -- the day --------------------------------------------------------------------

    def today(self):
        """Today's rows, read again once the day has changed; agents held yesterday are
        rung then, so a parked recv of theirs takes what waited."""
        now = self.bus.clock()
        if now >= self._ends_at or now < self._ends_at - 2 * 86400:
            held = [name for name, row in self._rows.items() if self._over(name, row)]
            self._day = local_day(now)
            self._ends_at = next_midnight(now)
            self._rows = self.store.spend_on(self._day)
            for name in held:
                self.bus.ring(name)
        return self._rows

    def day(self):
        self.today()
        return self._day

    def start(self):
        self._running = True
        self.today()
        self._schedule()

    def stop(self):
        self._running = False

    def _schedule(self):
        if self._running:
            wait = self._ends_at - self.bus.clock() + MIDNIGHT_SLACK_SECONDS
            self.timers.later(max(wait, MIDNIGHT_SLACK_SECONDS), self._at_midnight)

    def _at_midnight(self):
        if self._running:
            self.new_day()
            self._schedule()

    def new_day(self):
        """Midnight: budgets reset (today() reads the new day's rows and rings the agents
        that were held); the pages hear of it."""
        day = self.day()
        self.bus.write_relaxed(lambda: self.bus.emit("budget_changed", day=day))
        return day

    # -- budgets ----------------------------------------------------------------------

    def budget(self, name):
        """The agent's daily budget in USD: its agent.json's, else the hive's; None: none."""
        own = self.budget_of(name)
        return own if own is not None else self.default_usd

    def limit(self, name, row):
        """What the agent may spend today (its budget plus today's raises); None: no limit."""
        budget = self.budget(name)
        if budget is None or (row and row["lifted"]):
            return None
        return budget + (row["raised_usd"] if row else 0.0)

    def held(self, name):
        """Whether `name` is handed no messages: its spend today reached its limit."""
        row = self.today().get(name)
        return row is not None and self._over(name, row)

    # -- what the harness reports -----------------------------------------------------

    def spent(self, name, cost_usd):
        """A turn of `name`'s ended, costing `cost_usd`. Reaching the limit holds the
        agent and tells the manager and the operator once."""
        day = self.day()
        self._write_and_tell(name, lambda: self.store.add_spend(name, day, float(cost_usd)))
        return {}

    def recheck(self, name):
        """The agent's harness (re)started, maybe on a config with a lower budget than
        today's spend: held, it runs no turn whose cost would tell anyone, so tell now."""
        row = self.today().get(name)
        if row is not None and not row["told"] and self._over(name, row):
            self._write_and_tell(name, lambda: self.store.spend(name, row["day"]))

    def _write_and_tell(self, name, change):
        """One write: `change()` (-> the agent's row after it), then, if that reaches the
        limit for the first time, budget_reached to the manager and the operator."""
        def write():
            row = change()
            limit = self.limit(name, row)
            reached = limit is not None and row["usd"] >= limit and not row["told"]
            if reached:
                row = self.store.change_budget(name, row["day"], told=True)
                self.bus.left_unread(name)      # a parked recv of its is handed nothing
                for to in self._told(name):
                    self.bus.post_system(to, "budget_reached", agent=name,
                                         spent_usd=round(row["usd"], 6),
                                         budget_usd=round(limit, 6), day=row["day"])
            self._keep(name, row)
            return reached
        if self.bus.write(write):
            for to in self._told(name):
                self.bus.ring(to)

    def _told(self, name):
        """Who hears that `name` reached its budget: the manager (not of itself) and the
        operator."""
        return [to for to in (MANAGER, OPERATOR)
                if to != name and (to == OPERATOR or self.agents.exists(to))]

    # -- the operator's -----------------------------------------------------------------

    def manage(self, name=None, raise_usd=None, lift=False):
        """The admin verb `budget`: without a name, every agent's row; with one, that
        agent's, after raising its budget for today by `raise_usd` or lifting it."""
        if name is None:
            if raise_usd is not None or lift:
                raise BadArgs("name the agent whose budget to raise or lift")
            return {"budgets": self.rows()}
        self.agents.need(name)
        if raise_usd is not None and lift:
            raise BadArgs("raise or lift, not both")
        if raise_usd is not None:
            self.raise_today(name, raise_usd)
        elif lift:
            self.lift_today(name)
        return {"budget": self.row(name)}

    def raise_today(self, name, usd):
        if not isinstance(usd, (int, float)) or isinstance(usd, bool) or not usd > 0:
            raise BadArgs("`raise_usd` must be a positive number of dollars")
        if self.budget(name) is None:
            raise Conflict(f"{name} has no daily budget to raise (set `daily_budget_usd` in "
                           "its agent.json or HYPERHIVE_DAILY_BUDGET_USD)")
        # told=False: if the raised limit is reached too, the manager hears of it again.
        self._change(name, raise_usd=float(usd), told=False)

    def lift_today(self, name):
        self._change(name, lifted=True)

    def _change(self, name, **change):
        day = self.day()

        def write():
            self._keep(name, self.store.change_budget(name, day, **change))
        self.bus.write(write)
        if not self.held(name):
            self.bus.ring(name)         # a held recv takes what waited

    def _keep(self, name, row):
        """Inside a write: once it commits, `row` is the agent's in memory, before the pages
        hear of it (they read it back)."""
        def kept():
            if row["day"] == self._day:
                self._rows[name] = row
        self.bus.writer.after_commit(kept)
        self.bus.emit("budget_changed", name=name, day=row["day"], spent_usd=row["usd"],
                      held=self._over(name, row))

    def heard(self, data):
        """Another host changed an agent's budget today (a raise, a lift): read its row
        again, and hand a held agent of this host what waited."""
        name = data.get("name")
        if not name or data.get("day") != self.day():
            return
        row = self.store.spend(name, self._day)
        if row is not None:
            self._rows[name] = row
        if self.agents.is_here(name) and not self.held(name):
            self.bus.ring(name)

    def _over(self, name, row):
        limit = self.limit(name, row)
        return limit is not None and row["usd"] >= limit

    # -- reading ----------------------------------------------------------------------------

    def row(self, name):
        """`name`'s spend today against its budget."""
        row = self.today().get(name)
        budget = self.budget(name)
        limit = self.limit(name, row)
        spent = row["usd"] if row else 0.0
        return {"name": name, "day": self._day, "spent_usd": round(spent, 6),
                "turns": row["turns"] if row else 0, "budget_usd": budget,
                "raised_usd": row["raised_usd"] if row else 0.0,
                "lifted": bool(row and row["lifted"]), "limit_usd": limit,
                "held": limit is not None and spent >= limit}

    def rows(self):
        return [self.row(name) for name in self.agents.names()]

    def prune(self, before, limit):
        """Rows of days before the day of `before`, at most `limit`."""
        return self.store.prune_spend(local_day(before), limit)
