"""A hive of several hosts on one PostgreSQL database: what each host does to be one of
them.

- It beats: every BEAT_SECONDS it writes that it is alive, with the status rows of the
  agents it runs, which every other host's dashboard shows. A host not heard from for
  DOWN_SECONDS is down: its agents show `host down`.
- It hears: one connection LISTENs (pglisten.py) on the inbox channel of each agent it
  runs, on the hive's event channel and on the timers' channel. A message left unread
  for an agent of another host is announced on that agent's channel in the sender's
  own transaction (NOTIFY is sent at commit), and rings its parked `recv` there.
- It relays: a commit that wrote events carries a NOTIFY naming its host and the ids
  it wrote (pgbatch.py); the other hosts read exactly those and publish them to their
  pages as their own, and the ones that change the registry (an agent added, removed
  or paused elsewhere) make them read the registry again.
- It carries other parts' channels: the work other hosts ask of it (worklist.py) is
  announced on channels of its own, heard on the same connection.
- When its notices were cut off, it makes up for what it missed: every local agent's
  bell rings (a parked `recv` reads its inbox again) and the relay looks back over the
  last RELAY_WINDOW ids for events it has not published.
"""

import logging
import os
import time

import gevent
from gevent.event import Event

from .errors import Unavailable
from .pglisten import Listener

log = logging.getLogger(__name__)

BEAT_SECONDS = 1.0
DOWN_SECONDS = 5.0
EVENTS = "hh.events"
TIMERS = "hh.timers"
# The registry's own events: on another host's, this one reads the registry again.
REGISTRY_EVENTS = ("agent_changed", "agent_removed")
RELAY_WINDOW = 1000            # events that may commit out of id order, looked back over
RELAY_PAGE = 500               # events read whole at once


def inbox_channel(name):
    return f"hh.inbox.{name}"


class Hosts:
    def __init__(self, bus, agents, name, root=None, machine=lambda name: {}):
        self.bus = bus
        self.store = bus.store
        self.agents = agents
        self.name = name
        self.root = str(root) if root else None
        self.machine = machine
        self.started_at = bus.clock()
        self._peers = {}                  # host name -> its row, as last read
        self._down = set()                # the hosts down at the last beat
        self._heeding = {}                # event kind -> what to call on another host's
        self._relayed = set()             # ids of other hosts' events already published
        self._relay_from = self.store.last_event_seq()
        self._relay_bell = Event()             # rung when another host wrote events
        self._spans = []                       # (host, first id, last id) to relay
        self._look_back = False                # look back over the window for missed ones
        self._listener = Listener(self.store.where, self._heard, self._reconnected,
                                  role=f"hyperhive listen {name}")
        self._hearers = {}                # another part's channel -> fn(payload)
        self._greenlets = []
        bus.announce_unread = self._unread
        self.store.events_channel = EVENTS   # each commit with events says which (pgbatch.py)
        bus.announce_timers = self._timers_changed
        agents.added_here = self.listen_for

    def start(self):
        self._beat()
        self._listener.listen(EVENTS, TIMERS, *[inbox_channel(n) for n in self.agents.here()])
        self._listener.start()
        self._greenlets = [gevent.spawn(self._beating), gevent.spawn(self._relaying)]

    def stop(self):
        for g in self._greenlets:
            g.kill()
        self._listener.stop()

    def heed(self, kind, fn):
        """Call fn(data) for each event of `kind` another host writes, before this host's
        pages hear of it."""
        self._heeding.setdefault(kind, []).append(fn)

    @property
    def _heeded(self):
        """The kinds of other hosts' events this host reads even with no page open."""
        return {*REGISTRY_EVENTS, *self._heeding}

    def hear(self, channel, fn):
        """Another part's channel (worklist.py): fn(payload) on each notice, and
        fn(None) on each (re)connect, when notices may have been missed."""
        self._hearers[channel] = fn
        self._listener.listen(channel)

    def known(self, host):
        return host in self._peers

    def listen_for(self, name):
        """`name` now runs here: wake its parked recv on its channel."""
        self._listener.listen(inbox_channel(name))

    # -- heartbeats ------------------------------------------------------------------

    def _beating(self):
        failing = False
        while True:
            gevent.sleep(BEAT_SECONDS)
            try:
                self._beat()
            except Unavailable as exc:
                if not failing:     # once per outage, not every second
                    log.warning("this host's heartbeat failed: %s", exc.message)
                failing = True
                continue
            except Exception:
                log.exception("this host's heartbeat failed")
            if failing:
                log.info("this host's heartbeat is back")
            failing = False

    def _beat(self):
        rows = {r["name"]: r for r in self.agents.status_rows(self.machine)
                if self.agents.is_here(r["name"])}
        self.bus.write_relaxed(lambda: self.store.beat(
            self.name, self.bus.clock(), self.started_at, os.getpid(), self.root, rows))
        before, self._peers = self._peers, {h["name"]: h for h in self.store.hosts()}
        down = self.down_hosts()
        for host in down ^ self._down:
            self._host_changed(host, up=host not in down)
        self._down = down
        for name in self._rows_changed(before):
            self._publish_changed(name)

    def _rows_changed(self, before):
        """The agents of other hosts whose rows their hosts said anew since the last beat
        (an event may have been relayed before the beat that agrees with it)."""
        for host, peer in self._peers.items():
            if host == self.name:
                continue
            old = before.get(host, {}).get("agents", {})
            for name, row in peer["agents"].items():
                if old.get(name) != row:
                    yield name

    def down_hosts(self):
        now = self.bus.clock()
        return {n for n, h in self._peers.items()
                if n != self.name and now - h["seen_at"] > DOWN_SECONDS}

    def is_down(self, host):
        return host in self.down_hosts()

    def _host_changed(self, host, up):
        """A host went down or came back: every page redraws its agents' rows."""
        log.info("host %s is %s", host, "up" if up else "down")
        for name in self._peers.get(host, {}).get("agents", {}):
            self._publish_changed(name, host_down=not up)

    def _publish_changed(self, name, **data):
        """This host's pages redraw an agent's row (published, not stored: each host
        tells its own pages what it learned)."""
        self.bus.fanout.publish({"seq": None, "kind": "agent_changed", "at": self.bus.clock(),
                                 "data": {"name": name, **data}})

    def hosts(self):
        """Each host of the hive: its name, when it was last heard of, whether it is down."""
        down = self.down_hosts()
        return [{"name": n, "seen_at": h["seen_at"], "started_at": h["started_at"],
                 "down": n in down, "agents": sorted(h["agents"]), "root": h["root"]}
                for n, h in sorted(self._peers.items())]

    def elsewhere(self, name):
        """What `name`'s home host last said of it (a status row), and whether that host
        is down; None when no host said anything of it."""
        home = self.agents.home(name)
        row = self._peers.get(home, {}).get("agents", {}).get(name)
        if row is None:
            return None
        return {**row, "host_down": self.is_down(home)}

    # -- what this host announces (inside the write that made it so) -----------------

    def _unread(self, recipient):
        # The registry as this host knows it: a send to the operator (or to a name no
        # host runs) asks the database nothing.
        if self.agents.home(recipient) not in (None, self.name):
            self.store.announce(inbox_channel(recipient))

    def _timers_changed(self):
        self.store.announce(TIMERS, self.name)

    # -- what this host hears -----------------------------------------------------------

    def _heard(self, channel, payload):
        if channel == EVENTS:
            self._heard_events(payload)
        elif channel == TIMERS:
            if payload != self.name:
                self.bus.timer_bell.set()
        elif channel.startswith("hh.inbox."):
            self.bus.ring(channel[len("hh.inbox."):])
        elif channel in self._hearers:
            self._hearers[channel](payload)

    def _reconnected(self):
        for name in self.agents.here():
            self.bus.ring(name)
        self.bus.timer_bell.set()
        self._look_back = True      # the events announced while this host was away
        self._relay_bell.set()
        for fn in self._hearers.values():
            fn(None)

    def _heard_events(self, payload):
        """"HOST FIRST LAST KINDS": the ids a commit of that host wrote, and their kinds
        (comma-separated). Read only when a page of this host is open or a kind is one
        this host heeds: nothing else here wants them, and a page that opens later reads
        the state from the database."""
        try:
            host, first, last, kinds = payload.split(" ")
            span = (host, int(first), int(last))
        except ValueError:
            log.warning("an events notice this host cannot read: %r", payload[:80])
            self._look_back = True
        else:
            if host == self.name:
                return
            if not len(self.bus.fanout) and self._heeded.isdisjoint(kinds.split(",")):
                self._relay_from = max(self._relay_from, span[2])    # seen, not wanted
                return
            self._spans.append(span)
        self._relay_bell.set()

    def _relaying(self):
        while True:
            self._relay_bell.wait()
            self._relay_bell.clear()
            spans, self._spans = self._spans, []
            look_back, self._look_back = self._look_back, False
            try:
                if look_back:
                    self._relay()
                for host, first, last in spans:
                    self._publish_relayed(self.store.events_between(first, last, host))
            except Exception:
                log.exception("relaying the other hosts' events failed")

    def _relay(self):
        """Publish the events other hosts wrote since the last look. Ids are given at
        insert and commit in any order, so the look goes back over a window; there it
        reads only ids, and whole only the events not published yet, a page at a time,
        so however many the window holds that were published already, the newer ones
        still come through."""
        start = max(0, self._relay_from - RELAY_WINDOW)
        fresh = [i for i in self.store.event_ids_from_others(start, self.name)
                 if i not in self._relayed]
        for k in range(0, len(fresh), RELAY_PAGE):
            self._publish_relayed(self.store.events_by_ids(fresh[k:k + RELAY_PAGE]))

    def _publish_relayed(self, events):
        """Other hosts' events, to this host's pages (and to what heeds them), each once."""
        refresh = False
        for e in events:
            if e["seq"] in self._relayed:
                continue
            self._relayed.add(e["seq"])
            refresh = refresh or e["kind"] in REGISTRY_EVENTS
            self._merge_into_peer(e)
            for heed in self._heeding.get(e["kind"], ()):
                heed(e["data"])
            self.bus.fanout.publish(e)
        if events:
            self._relay_from = max(self._relay_from, events[-1]["seq"])
            self._relayed = {i for i in self._relayed if i > self._relay_from - RELAY_WINDOW}
        if refresh:
            self.agents.reload()

    def _merge_into_peer(self, event):
        """An agent's change on another host shows on this host's rows at once, not at
        that host's next beat."""
        if event["kind"] != "agent_changed":
            return
        data = event["data"]
        home = self.agents.home(data.get("name"))
        row = self._peers.get(home, {}).get("agents", {}).get(data.get("name"))
        if row is not None:
            row.update({k: v for k, v in data.items() if k in row and k != "name"})


def default_name():
    return os.uname().nodename or f"host-{int(time.time())}"
