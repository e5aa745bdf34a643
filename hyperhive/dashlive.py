"""One open dashboard kept current over its event stream.

A `Live` belongs to one page stream (sse.stream's hello/render/tick). It opens
with every section as it is now, then turns each event into the fragments that
change: a section the event makes stale is read from the broker again and
rendered whole (its inputs survive the swap: the templates mark them hx-preserve);
a message is one row put on top of the flow (and the inbox), its delivery a new
mark. It remembers what the page shows, so a row is never added twice, the lists
stay as long as on a fresh page, and the ages tick without asking the broker.

Every open dashboard turns the same event into nearly the same markup, so the pages
of one host share a `Shared`: a section is read from the broker once per event, and
a fragment rendered once per event and page view (which rows are new to the page).
"""

import collections
import logging
import time

from . import dashview
from .dashview import FLOW_LIMIT, INBOX_LIMIT, Sections, Ticks, View, notice, span
from .errors import HiveError
from .names import OPERATOR

log = logging.getLogger(__name__)

SECTIONS = tuple(dashview.SECTION_READS)       # read again and rendered whole, in this order
# The sections each kind of event makes stale.
STALE = {
    "agent_changed": {"agents"},
    "agent_removed": {"agents", "kept"},
    "transient_set": {"agents"},
    "transient_cleared": {"agents", "kept"},     # a step ended: its outcome shows now
    "config_deployed": {"agents"},
    "config_rolled_back": {"agents"},
    "sent": {"agents"},                          # the recipient's unread count
    "delivered": {"agents"},
    "draft_added": {"drafts"},
    "draft_removed": {"drafts"},
    "question_added": {"questions"},
    "question_resolved": {"questions"},
    "approval_added": {"approvals"},
    "approval_resolved": {"approvals"},
    "config_tagged": {"approvals"},                  # config pages read the tags again
    "reminder_added": {"reminders", "agents"},       # and the agent's pending count
    "reminder_cancelled": {"reminders", "agents"},
    "reminder_delivered": {"reminders", "agents"},
    "failed_turn_added": {"failed"},
    "failed_turn_removed": {"failed", "agents"},     # a retry: the agent's unread count
    "budget_changed": {"budgets", "agents"},         # a turn's cost, a raise, midnight
}


class Shared:
    """What the open dashboards of a host read and render alike for one event, done once
    (500 pages must not read the agents 500 times per message). Kept for the few newest
    events, for pages a little behind the rest; an event without a seq is not shared."""

    KEPT = 16

    def __init__(self, broker):
        self.broker = broker
        self._done = collections.OrderedDict()      # (seq, what...) -> its value

    def read(self, seq, section):
        return self._once((seq, section), lambda: dashview.read_section(self.broker, section))

    def render(self, key, make, ticks):
        """make(ticks) -> html, called once per key; the page's `ticks` learn the ticking
        spans in the html as if it had rendered them itself."""
        html, spans = self._once(key, lambda: _with_ticks(make))
        ticks.adopt(spans)
        return html

    def _once(self, key, make):
        if key[0] is None:
            return make()
        if key not in self._done:
            self._done[key] = make()
            while len(self._done) > self.KEPT * 4:
                self._done.popitem(last=False)
        return self._done[key]


def _with_ticks(make):
    spans = Ticks()
    return make(spans), spans


class Live:
    def __init__(self, broker, page_host, clock=time.time, shared=None):
        self.broker = broker
        self.page_host = page_host
        self.clock = clock
        self.shared = shared or Shared(broker)
        self.ticks = Ticks()
        self.shown = {}                     # section -> the row ids the page has
        self.flow = collections.deque()     # message ids in the flow, newest first
        self.inbox = collections.deque()

    def _sections(self, ticks=None):
        return Sections(View(self.page_host, self.clock(), ticks or self.ticks))

    # -- what sse.stream calls ---------------------------------------------------------

    def hello(self):
        """Every section as it is now (the page may have been rendered a while ago)."""
        s = dashview.snapshot(self.broker)
        self.shown.clear()
        out = [self._section(name) for name in SECTIONS]
        sections = self._sections()
        names = {a["name"] for a in s["agents"]}
        self.flow = collections.deque(m["id"] for m in s["flow"])
        self.inbox = collections.deque(m["id"] for m in s["inbox"])
        out.append(("inbox", sections.inbox(s["inbox"], names)
                    + span("inbox-count", len(self.inbox), "count", oob=True)))
        out.append(("flow", sections.flow(s["flow"])))
        out.append(("oob", sections.disk(s["disk"], oob=True)
                    + sections.approval_queue(s["approval_queue"], oob=True)))
        return out

    def render(self, event):
        """The fragments that bring the page up to date with `event`."""
        try:
            return self._render(event)
        except HiveError as exc:
            # the next event or tick tries again; the stream goes on
            log.warning("cannot render a %s event for the dashboard: %s", event["kind"],
                        exc.message)
            return []

    def tick(self):
        changed = self.ticks.changed(self.clock())
        return [("tick", "".join(changed))] if changed else []

    # -- events ----------------------------------------------------------------------------

    def _render(self, event):
        kind, data = event["kind"], event["data"]
        stale = STALE.get(kind, set())
        if kind == "agent_changed" and (data.get("added") or data.get("purged")):
            stale = stale | {"kept"}
        out = [self._section(name, event["seq"]) for name in SECTIONS if name in stale]
        oob = ""
        if kind == "sent":
            oob = self._sent(event)
        elif kind in ("delivered", "acked"):
            ids = data.get("ids") or [data.get("id")]
            oob = "".join(dashview.mark({"id": i, "delivered_at": True,
                                         "acked_at": kind == "acked"}, oob=True)
                          for i in ids if i in self.flow)
        elif kind == "disk_changed":
            oob = self._sections().disk(data, oob=True)
        if oob:
            out.append(("oob", oob))
        told = _notice(kind, data)
        if told:
            out.append(("notify", told))
        return out

    def _section(self, name, seq=None):
        """One section read again and rendered whole, with its counts."""
        items = self.shared.read(seq, name)
        fresh = self._fresh(name, map(dashview.ROW_IDS[name], items))
        html = self.shared.render((seq, name, frozenset(fresh)),
                                  lambda ticks: self._section_html(name, items, fresh, ticks),
                                  self.ticks)
        return name, html

    def _section_html(self, name, items, fresh, ticks):
        sections = self._sections(ticks)
        if name == "agents":
            return (sections.agents(items, self.broker.agents.transients(), fresh)
                    + sections.agent_counts(items))
        if name == "questions":
            return sections.questions(items, fresh) + sections.question_counts(items, oob=True)
        if name == "approvals":     # the queue's chart follows its length
            queue = dashview.approval_queue(self.broker, self.clock())
            return (sections.approvals(items, fresh) + span("approvals-count", len(items), "count",
                    oob=True) + sections.approval_queue(queue, oob=True))
        rows = getattr(sections, name)(items, fresh)
        return rows + span(f"{name}-count", len(items), "count", oob=True)

    def _fresh(self, section, rows):
        """The rows new to the page since it last got `section` (none in the hello)."""
        rows = set(rows)
        before = self.shown.get(section)
        self.shown[section] = rows
        if before is None:
            return set()
        for gone in before - rows:
            self.ticks.forget(gone)
        return rows - before

    def _sent(self, event):
        data = event["data"]
        m = {"id": data["id"], "from": data["sender"], "to": data["to"], "body": data["body"],
             "sent_at": event["at"], "in_reply_to": data.get("in_reply_to")}
        seq = event["seq"]

        def row(name, render):
            return lambda fresh: self.shared.render(
                (seq, name, m["id"]), lambda ticks: render(self._sections(ticks), fresh),
                self.ticks)
        out = self._prepend("flow", self.flow, FLOW_LIMIT, m["id"],
                            row("flow", lambda sections, fresh: sections.flow([m], fresh)))
        if m["to"] == OPERATOR:
            names = set(self.broker.agents.names())
            out += self._prepend("inbox", self.inbox, INBOX_LIMIT, m["id"], row(
                "inbox", lambda sections, fresh: sections.inbox([m], names, fresh)))
            out += span("inbox-count", len(self.inbox), "count", oob=True)
        return out

    def _prepend(self, name, ids, limit, msg_id, render):
        """Message `msg_id`'s row on top of the `name` list (once), the oldest off its end."""
        if msg_id in ids:
            return ""       # in the hello already
        ids.appendleft(msg_id)
        out = f'<div hx-swap-oob="afterbegin:#{name}-list">{render({f"{name}-{msg_id}"})}</div>'
        while len(ids) > limit:
            gone = f"{name}-{ids.pop()}"
            self.ticks.forget(gone)
            out += f'<li id="{gone}" hx-swap-oob="delete"></li>'
        return out


def _notice(kind, data):
    """What calls the operator (while the page's tab is in the background), if anything."""
    if kind == "sent" and data.get("to") == OPERATOR:
        return notice(f"message-{data['id']}", f"message from {data['sender']}", data["body"],
                      dashview.inbox_row(data))
    if kind == "question_added" and data.get("target") is None:
        return notice(f"question-{data['id']}", f"question from {data['asker']}",
                      data["question"], dashview.question_row(data))
    if kind == "failed_turn_added":
        return notice(f"failed-{data['id']}", f"{data['agent']}: message #{data['id']} failed",
                      f"its turns ended {data['outcome']}; retry or discard it",
                      dashview.failed_row({"message_id": data["id"]}))
    if kind == "approval_added" and data.get("requested_by") != OPERATOR:
        i = data["id"]
        # the operator's own requests (from ctl, say) need no reminder
        return notice(f"approval-{i}", f"approval #{i}: {data['kind']} {data['agent']}",
                      data.get("description") or "waiting for you", dashview.approval_row(data))
    return ""
