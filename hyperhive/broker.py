"""The broker: the one API that changes the hive's state, built from one part per concern.

    broker.messages    send, recv, ack, requeue, undeliver, wake, inbox, threads
    broker.questions   ask, answer, cancel, and their deadlines
    broker.reminders   remind, and the timers that deliver reminders and expire questions
    broker.approvals   the approval queue, diffs, decisions, rollout outcomes
    broker.failed      the failed list: messages whose turns kept failing (failedturns.py)
    broker.agents      the registry, reports, status rows, pauses, transients, agent dirs
    broker.budgets     each agent's spend today against its daily budget (budgets.py)
    broker.operations  the lifecycle verbs (operations.py), when the host has a backend; in
                       a hive of several, routed to an agent's home host (routing.py)
    broker.moves       re-homing a stopped agent on another host (moves.py)
    broker.reads       an agent's journal, kept state and config, read (agentreads.py)
    broker.searches    full-text search of messages, questions and answers; threads

The socket server, the dashboard and (through the harness) the MCP tools are thin
adapters over these parts. Every verb takes the caller's identity as its first
argument; the adapters fill it from the socket or page the request came in on, never
from the request itself. Every part writes through one Bus (bus.py): one store, one
group-commit writer, one clock. A test hands in its own `clock`.
"""

import time

import gevent

from . import hosts, retention
from .agentreads import AgentReads
from .agents import Agents
from .approvals import Approvals
from .budgets import Budgets
from .bus import Bus
from .configs import Configs
from .failedturns import FailedTurns
from .messages import Messages
from .moves import Moves, NoHosts
from .operations import Operations, Unhosted
from .questions import Questions
from .reminders import Reminders
from .routing import Routed
from .searches import Searches
from .worklist import Worklist


class Broker:
    def __init__(self, store, places, clock=time.time, retention_days=retention.DEFAULT_DAYS,
                 sessions=None, lifecycle=None, daily_budget_usd=None, timers=None,
                 host_name=None):
        """`lifecycle(registry, configs, report)` builds the host's Lifecycle (None: a
        broker with no container backend); `sessions(writer)` the operator's web sessions,
        which write through the broker's writer; `daily_budget_usd` the hive's default
        budget (None: none); `timers` what schedules midnight (tests hand in their own);
        `host_name` this host's name when its store is a PostgreSQL database that other
        hosts share (hosts.py)."""
        self.bus = Bus(store, places, clock)
        self.store = store
        self.clock = clock
        self.retention_days = retention_days
        self.configs = Configs(places) if places else None
        several = store.on_postgres
        if several:
            store.host = host_name = host_name or hosts.default_name()
        self.agents = Agents(self.bus, host=host_name if several else None)
        self.budgets = Budgets(self.bus, self.agents, self._own_budget, daily_budget_usd,
                               timers)
        self.messages = Messages(self.bus, self.agents, self._allowed_recipients,
                                 held=self.budgets.held)
        self.questions = Questions(self.bus, self.agents, self.messages)
        self.reminders = Reminders(self.bus, self.questions)
        self.approvals = Approvals(self.bus, self.agents, self.messages)
        self.failed = FailedTurns(self.bus, self.agents)
        self.searches = Searches(self.bus)
        self.sessions = sessions(self.bus.writer) if sessions else None
        self.operations = Operations(self, lifecycle) if lifecycle else Unhosted()
        self.lifecycle = self.operations.lifecycle if lifecycle else None
        self.reads = AgentReads(self.agents, self.lifecycle) if lifecycle else Unhosted()
        self.hosts = hosts.Hosts(self.bus, self.agents, host_name, root=places.lib if places
                                 else None, machine=self._machine) if several else None
        if self.hosts:
            self.hosts.heed("budget_changed", self.budgets.heard)
        self.worklist = Worklist(self.bus, self.hosts) if several else None
        self.moves = NoHosts()
        if several and lifecycle:
            self.moves = Moves(self, self.worklist)
            self.operations = Routed(self.operations, self.agents, store, self.worklist,
                                     busy=self.moves.busy)
        self._pruner = None

    @property
    def writer(self):
        return self.bus.writer

    @property
    def fanout(self):
        return self.bus.fanout

    def start(self):
        if self.hosts:
            self.worklist.start()      # its channels are LISTENed from the first connect
            self.hosts.start()
        self.reminders.start()
        self.budgets.start()
        self._pruner = gevent.spawn(retention.daily, self.prune, "the hive's database")

    def stop(self):
        if self.hosts:
            self.worklist.stop()
            self.hosts.stop()
        self.reminders.stop()
        self.budgets.stop()
        if self._pruner:
            self._pruner.kill()
        self.bus.writer.stop()

    def _allowed_recipients(self, name):
        return self.configs.allowed_recipients(name) if self.configs else []

    def _own_budget(self, name):
        return self.configs.get(name).get("daily_budget_usd") if self.configs else None

    # -- what crosses parts ----------------------------------------------------

    def report(self, caller, **fields):
        """The harness reports its live state (turn state, model, login, last turn);
        config_sha and config_error are what a settling config's rollout goes by;
        turn_cost_usd is what the turn that just ended cost, for its daily budget."""
        cost = fields.pop("turn_cost_usd", None)
        if cost is not None:
            self.budgets.spent(caller, cost)
        elif "status" in fields:
            self.budgets.recheck(caller)
        self.agents.report(caller, fields)
        if self.lifecycle is not None:
            self.lifecycle.rollouts.reported(caller, fields)
        return {}

    def _machine(self, name):
        return self.lifecycle.state(name) if self.lifecycle else {}

    def status_rows(self):
        elsewhere = self.hosts.elsewhere if self.hosts else (lambda name: None)
        rows = self.agents.status_rows(self._machine, elsewhere)
        for row in rows:
            row["over_budget"] = self.budgets.held(row["name"])
        return rows

    def disk_state(self):
        """{"full": bool, "since": time or None}: the dashboard's banner."""
        return self.bus.disk.snapshot()

    def events_after(self, seq, kinds=None):
        events = self.store.events_after(seq)
        if kinds:
            events = [e for e in events if e["kind"] in kinds]
        return events

    def last_seq(self):
        return self.store.last_event_seq()

    # -- retention ---------------------------------------------------------------

    def prune(self, now=None, batch=retention.BATCH, pause=retention.PAUSE_SECONDS):
        """Delete what is older than the retention setting and no longer live: acked
        messages, resolved approvals, answered questions, delivered reminders. At most
        `batch` rows per transaction; {table: rows deleted, "batches": transactions}.
        (Dashboard events need none: the newest EVENTS_KEPT are kept.)"""
        before = retention.cutoff(self.retention_days, now or self.clock())
        done = {"messages": 0, "approvals": 0, "questions": 0, "reminders": 0, "spend": 0,
                "batches": 0}
        if before is None:
            return done
        cursor = [0]
        relaxed = self.bus.write_relaxed

        def messages():
            n, cursor[0] = relaxed(lambda: self.store.prune_messages(before, cursor[0], batch))
            return n, cursor[0] is not None

        def rows_of(prune):
            def one_batch():
                n = relaxed(lambda: prune(before, batch))
                return n, n == batch
            return one_batch
        for table, delete_batch in (("messages", messages),
                                    ("approvals", rows_of(self.store.prune_approvals)),
                                    ("questions", rows_of(self.store.prune_questions)),
                                    ("reminders", rows_of(self.store.prune_reminders)),
                                    ("spend", rows_of(self.budgets.prune))):
            done[table], batches = retention.drain(delete_batch, pause)
            done["batches"] += batches
        return done
