"""What the agent's pages show, gathered from the harness, and their live feed.

`page_state` is the snapshot the page renders from. A `Feed` follows one open
page: every event from the harness's bus becomes the page fragments it changes
(`render(event) -> [(target, html), ...]`, see sse.stream), and `tick()` re-renders,
once a second, the ages and countdowns that changed since it last sent them. The
markup is the page's own templates', so a live update looks exactly like a reload.

A feed keeps one fact about the page it follows: whether the last turn group on
it still takes rows. It learns that from the events up to where the page was
rendered (the stream's Last-Event-ID) and keeps it up to date from there on.
"""

import logging
import time

from . import web
from .agentview import View, dashboard_url, end_row, event_rows, group, takes_rows
from .charts import charts, script_json
from .client import RemoteError

log = logging.getLogger(__name__)

HISTORY = 300               # events rendered into the page
INBOX_LIMIT = 30
BADGE_KINDS = frozenset({"status_changed", "turn_state_changed", "model_changed",
                         "token_usage_changed", "turn_end"})
# How often an open page asks the host whether its reminders or failed list changed: the
# operator's cancel and discard on the dashboard reach the host, not the harness.
PANEL_POLL_SECONDS = 5
# The rows of an event go into the page's last turn group: the term's last section.
LAST_GROUP = "#term > .turn:last-child"


# -- state -----------------------------------------------------------------------

def page_state(harness, streams=None, events=None, lists=None):
    """The snapshot plus what the page shows beside it.

    `seq` is read before anything else, so a page that follows the events from
    `seq` on misses nothing; events newer than it are left to that replay.
    """
    seq = harness.bus.last_seq()
    if events is None:
        events = harness.bus.history(HISTORY)
    events = [e for e in events if e["seq"] <= seq]
    snap = badge_state(harness, events)
    snap["seq"] = seq
    lists = lists or HostLists(harness)
    snap["inbox"], snap["inbox_error"] = lists.inbox(fresh=True)
    snap["threads"], snap["threads_error"] = lists.threads()
    snap["reminders"], snap["reminders_error"] = lists.reminders()
    snap["failed"], snap["failed_error"] = lists.failed()
    snap["streams"] = int(streams) if streams is not None else 0
    snap["now"] = time.time()
    snap["dashboard_url"] = dashboard_url(harness.settings)
    return snap, events


def badge_state(harness, events=()):
    """The harness's snapshot with usage and the last turn filled in.

    Both live only in the harness's memory, so after a restart they are taken
    from the newest events, then from turn_stats.
    """
    snap = harness.snapshot()
    if not snap.get("usage"):
        snap["usage"] = _last_data(events, "token_usage_changed") or _usage_from_stats(harness)
    if not snap.get("last_turn"):
        end = _last_event(events, "turn_end")
        snap["last_turn"] = ({"at": end["at"], "duration_ms": end["data"].get("duration_ms"),
                              "outcome": end["data"].get("outcome")} if end
                             else _last_turn_from_stats(harness))
    return snap


def _last_event(events, kind):
    return next((e for e in reversed(events) if e["kind"] == kind), None)


def _last_data(events, kind):
    event = _last_event(events, kind)
    return dict(event["data"]) if event else None


def stats_last(harness):
    """The newest turn_stats row, or None (also when the file cannot be read)."""
    try:
        return harness.stats.last_turn()
    except Exception:
        log.exception("could not read the last turn from turn_stats")
        return None


def _usage_from_stats(harness):
    row = stats_last(harness)
    if not row:
        return {}
    return {"ctx": None, "input": row["input_tokens"], "output": row["output_tokens"],
            "cache_read": row["cache_read_input_tokens"],
            "cache_write": row["cache_creation_input_tokens"], "cost_usd": row["cost_usd"]}


def _last_turn_from_stats(harness):
    row = stats_last(harness)
    if not row:
        return None
    return {"at": row["ended_at"], "duration_ms": row["duration_ms"],
            "outcome": row["result_kind"]}


class HostLists:
    """The agent's inbox and open threads, asked of the host and kept for the feeds.

    One per page app: every open page shares the last answer, so a turn that
    starts asks the host once, however many tabs follow it.
    """

    def __init__(self, harness):
        self.harness = harness
        self._inbox = None          # (messages, error)
        self._inbox_seq = -1        # the newest event the kept inbox was asked for

    def inbox(self, fresh=False, seq=None):
        """(messages, error): the newest messages, newest first; asked again when `fresh`,
        or once per event `seq`."""
        stale = self._inbox is None or fresh or (seq is not None and seq > self._inbox_seq)
        if stale:
            self._inbox = self._ask("recent", "messages", limit=INBOX_LIMIT)
            self._inbox_seq = max(self._inbox_seq, seq or 0)
        return self._inbox

    def threads(self):
        """(threads, error): the approvals and questions that involve the agent."""
        return self._ask("open_threads", "threads")

    def reminders(self):
        """(reminders, error): the agent's own pending reminders, soonest first."""
        return self._ask("reminders", "reminders")

    def failed(self):
        """(failed turns, error): the agent's own, newest first."""
        return self._ask("failed", "failed")

    def _ask(self, cmd, key, **fields):
        """(a list from the host's reply, None) or ([], why not): a page shows either."""
        try:
            reply = self.harness.host.call(cmd, timeout=5, **fields)
        except RemoteError as exc:
            return [], f"the host refused: {exc}"
        except (OSError, ValueError, ConnectionError) as exc:
            return [], f"the host is not answering ({type(exc).__name__})"
        return list(reply.get(key) or []), None


# -- the live feed -----------------------------------------------------------------

class Ticker:
    """Ticking texts (ages, countdowns) by element id; sends only the ones that changed."""

    def __init__(self):
        self.shown = {}

    def fragments(self, texts):
        changed = {k: t for k, t in texts.items() if self.shown.get(k) != t}
        self.shown.update(changed)
        return [("tick", web.render("page_ticks", texts=changed))] if changed else []


class TermRows:
    """Where an event's rows go on the page: into its last turn group while that takes
    rows, else into a new group at the end of the term."""

    def __init__(self, open_group=False):
        self.open = open_group

    def render(self, event, view):
        """[("term", html)] for the event, or [] when it shows no rows."""
        if event["kind"] == "turn_start":
            self.open = True
            return [("term", web.render("agent_turn", g=group(event), v=view, new=True))]
        if event["kind"] == "turn_end":
            rows, fresh, self.open = [end_row(event["data"])], not self.open, False
            return [self._rows(rows, fresh, view)]
        rows = event_rows(event)
        if not rows:
            return []
        fresh, self.open = not self.open, True
        return [self._rows(rows, fresh, view)]

    @staticmethod
    def _rows(rows, fresh, view):
        if fresh:
            return "term", web.render("agent_turn", g=group(rows=rows), v=view, new=True)
        return "term", web.render("agent_rows", rows=rows, into=LAST_GROUP)


class Feed:
    """The fragments one open agent page needs, event by event."""

    def __init__(self, harness, lists, seen=None):
        self.harness = harness
        self.lists = lists
        history = harness.bus.history(HISTORY)
        self.term = TermRows(takes_rows([e for e in history if seen is None or e["seq"] <= seen]))
        self.ticker = Ticker()
        # the rows the page's host panels show (None: not asked since the page loaded)
        self.reminders_shown = None
        self.failed_shown = None
        self.panels_asked = time.monotonic()

    def render(self, event):
        kind, data = event["kind"], event["data"]
        view = View(time.time())
        out = self.term.render(event, view)
        if kind in BADGE_KINDS:
            s = badge_state(self.harness)
            out.append(("badges", web.render("agent_badges", s=s, v=view)))
            if kind == "model_changed":
                out.append(("model", web.render("agent_model", model=s["model"], oob=True)))
        if kind == "status_changed" or (kind == "note" and data.get("level") == "login"):
            out.append(("login", web.render("agent_login", s=self.harness.snapshot(), oob=True)))
        if kind == "turn_start":
            out.append(("inbox", self._inbox(view, event["seq"], data.get("id"))))
        if kind in ("turn_start", "turn_end"):
            threads, error = self.lists.threads()
            out.append(("threads", web.render("agent_threads", threads=threads, error=error,
                                               name=self.harness.name, v=view, oob=True)))
            # a turn sets reminders and a delivered one starts a turn: both refresh them
            out.append(self._reminders(view))
        if kind in ("turn_start", "turn_end", "failed_changed"):
            out.append(self._failed())
        return out

    def _reminders(self, view, asked=None):
        """The reminders panel's list, as the host has it now (or as `asked` just now)."""
        reminders, error = asked or self.lists.reminders()
        self.reminders_shown = reminders
        return "reminders", web.render("agent_reminders", reminders=reminders, error=error,
                                       name=self.harness.name, v=view, oob=True)

    def _failed(self, asked=None):
        """The failed panel's list, as the host has it now (or as `asked` just now)."""
        failed, error = asked or self.lists.failed()
        self.failed_shown = [f["message_id"] for f in failed]
        return "failed", web.render("agent_failed", failed=failed, error=error,
                                    name=self.harness.name, oob=True)

    def _inbox(self, view, seq, new_id=None):
        messages, error = self.lists.inbox(seq=seq)
        return web.render("agent_inbox", messages=messages, error=error, v=view, oob=True,
                          name=self.harness.name, new_id=new_id)

    def tick(self):
        view = View(time.time())
        texts = {"turn-age": view.turn_age(self.harness.snapshot())}
        for m in self.lists.inbox()[0]:
            texts[f"age-inbox-{m['id']}"] = view.age(m.get("sent_at"))
        moved = self._panels_moved(view)
        for r in self.reminders_shown or ():
            texts[f"due-reminder-{r['id']}"] = view.due(r["due_at"])
        return moved + self.ticker.fragments(texts)

    def _panels_moved(self, view):
        """Every few seconds the feed asks the host again for the panels whose rows the
        operator changes elsewhere, and sends each one whose rows moved."""
        if time.monotonic() - self.panels_asked < PANEL_POLL_SECONDS:
            return []
        self.panels_asked = time.monotonic()
        out = []
        reminders = self.lists.reminders()
        if not reminders[1] and _ids(reminders[0]) != _ids(self.reminders_shown):
            out.append(self._reminders(view, reminders))
        failed = self.lists.failed()
        if not failed[1] and [f["message_id"] for f in failed[0]] != self.failed_shown:
            out.append(self._failed(failed))
        return out


def _ids(rows):
    return None if rows is None else [r["id"] for r in rows]


class StatsFeed:
    """The fragments an open stats page needs: its numbers, tables and chart data after
    each turn's stats row, and the time since the last turn, ticking."""

    def __init__(self, harness, window, summary):
        self.harness = harness
        self.window = window
        self.summary = summary
        self.ticker = Ticker()
        row = stats_last(harness)
        self.last_at = row["ended_at"] if row else None

    def render(self, event):
        if event["kind"] != "turn_stats":
            return []
        sm = self.summary(self.window)
        now = time.time()
        if sm["since_last_turn_s"] is not None:
            self.last_at = now - sm["since_last_turn_s"]
        self.ticker.shown.pop("since-last-value", None)
        return [("stats", web.render("stats_parts", sm=sm, v=View(now), now=now,
                                     data=chart_data(sm), oob=True))]

    def tick(self):
        if self.last_at is None:
            return []
        view = View(time.time())
        return self.ticker.fragments({"since-last-value": view.age(self.last_at)})


def chart_data(summary):
    """The summary's charts as JSON to put in a page's <script type="application/json">."""
    return script_json(charts(summary))
