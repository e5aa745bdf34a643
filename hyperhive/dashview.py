"""The dashboard's markup: the whole page, and each section of it as a fragment.

The page and its live updates come from the same templates. `page()` renders the
page as it is now; `Live` (dashlive.py) keeps one open page current over its event
stream with the same `Sections`. Ages and countdowns on the page are spans with
an id that `Ticks` remembers, so the stream can rewrite them as the clock moves.
Nothing here reads the HTTP request: the dashboard's routes pass in what they know.
"""

import html
import json
import time

from . import budgetview, charts, formats, web
from .errors import HiveError
from .names import OPERATOR

INBOX_LIMIT = 50
FLOW_LIMIT = 100
NOTIFY_CLIP = 240
# the questions panel's chips: key (the `q` parameter), label, and what an empty list says
QUESTION_CHIPS = (("all", "all", "no open questions"),
                  ("operator", "@operator", "nothing is asked of you"),
                  ("peer", "@peer", "no questions between agents"))
# The fields of a system event worth a glance, in the order a person reads them.
EVENT_FIELDS = ("agent", "kind", "status", "tag", "note", "question", "answer", "answerer",
                "rc", "restarting", "purged", "spec", "error", "reason")
# How a ticking span reads at time `now`: an age, or what is left before a deadline.
TICK_RULES = {"ago": lambda ts, now: formats.duration(now - ts),
              "left": lambda ts, now: formats.expires_in(ts - now)}


# How each live list is read from the broker.
SECTION_READS = {
    "agents": lambda b: b.status_rows(),
    "kept": lambda b: b.reads.kept_state(),
    "drafts": lambda b: b.operations.drafts()["drafts"],
    "questions": lambda b: b.questions.open()["questions"],
    "approvals": lambda b: b.approvals.pending()["approvals"],
    # grouped by agent, each agent's soonest first
    "reminders": lambda b: sorted(b.reminders.pending(OPERATOR)["reminders"],
                                  key=lambda r: (r["agent"], r["due_at"], r["id"])),
    "failed": lambda b: b.failed.listing(OPERATOR)["failed"],     # newest first
    "budgets": lambda b: b.budgets.rows(),
}
NEED_LIFECYCLE = ("kept", "drafts")


def read_section(broker, name):
    try:
        return SECTION_READS[name](broker)
    except HiveError:
        if name in NEED_LIFECYCLE:
            return []       # a broker without a lifecycle has none
        raise


def approval_queue(broker, now=None):
    """The approval queue's last day as chart data (the approvals panel's chart)."""
    now = time.time() if now is None else now
    return charts.approval_queue(broker.approvals.queue_spans(now - charts.QUEUE_SPAN), now)


def snapshot(broker, streams=None):
    """Everything the page shows. `seq` is read first: events after it may already be in here."""
    seq = broker.last_seq()
    now = time.time()
    return {
        "seq": seq,
        "now": now,
        **{name: read_section(broker, name) for name in SECTION_READS},
        "inbox": broker.messages.inbox(INBOX_LIMIT)["messages"],
        "flow": broker.messages.flow(FLOW_LIMIT),
        "transients": broker.agents.transients(),
        "streams": int(streams) if streams is not None else 0,
        "isolated": bool(getattr(broker.lifecycle, "isolated", False)),
        "disk": broker.disk_state(),
        "approval_queue": approval_queue(broker, now),
    }


# -- small pieces of markup ------------------------------------------------------------

def span(id, text, cls=None, oob=False, title=None):
    """A span the page may replace by its id (a count, an age, a delivery mark)."""
    attrs = (f' class="{cls}"' if cls else "") + f' id="{id}"'
    attrs += f' title="{html.escape(title)}"' if title else ""
    attrs += ' hx-swap-oob="true"' if oob else ""
    return f"<span{attrs}>{html.escape(str(text))}</span>"


def mark(m, oob=False):
    """A message's delivery mark: sent ·, delivered ✓, handled ✓✓."""
    if m.get("acked_at"):
        text, cls = "✓✓", "mark is-delivered is-acked"
    elif m.get("delivered_at"):
        text, cls = "✓", "mark is-delivered"
    else:
        text, cls = "·", "mark"
    return span(f"mark-{m['id']}", text, cls, oob, title="sent · delivered ✓ · handled ✓✓")


def notice(tag, title, body, row):
    """What a browser notification says, for hive.js to show while the tab is hidden."""
    attrs = {"data-tag": tag, "data-title": title, "data-body": formats.clip(body, NOTIFY_CLIP),
             "data-row": row}
    return "<p " + " ".join(f'{k}="{html.escape(v)}"' for k, v in attrs.items()) + "></p>"


def system_event(body):
    """A system message's JSON body as (event, "agent scout · status approved"), or None."""
    try:
        data = json.loads(body or "")
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        return None
    parts = [f"{key} {_event_value(data[key])}" for key in EVENT_FIELDS
             if data.get(key) not in (None, "", [], {})]
    return data["event"], formats.event_line(data) or " · ".join(parts)


def _event_value(value):
    # JSON for lists, objects and booleans, so `restarting true` reads as it was sent
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# -- the question chips ---------------------------------------------------------------------

def question_filter(raw):
    """The chip picked with `?q=`; anything else (a stale bookmark, a typo) means all."""
    return raw if raw in {key for key, _, _ in QUESTION_CHIPS} else "all"


def question_kind(q):
    """A question without a target was asked of the operator; one with a target, of a peer."""
    return "operator" if q.get("target") is None else "peer"


def question_counts(questions):
    counts = {"all": len(questions), "operator": 0, "peer": 0}
    for q in questions:
        counts[question_kind(q)] += 1
    return counts


def question_view(questions, which):
    """The questions panel under the chip `which`: the rows it shows, and the chips."""
    counts = question_counts(questions)
    chips = [{"key": key, "label": label, "empty": empty, "count": counts[key],
              "current": key == which} for key, label, empty in QUESTION_CHIPS]
    shown = [q for q in questions if which == "all" or question_kind(q) == which]
    empty = next(c["empty"] for c in chips if c["current"])
    return {"filter": which, "shown": shown, "chips": chips, "empty": empty}


# -- ticking labels -------------------------------------------------------------------------

class Ticks:
    """The ages and countdowns one page shows, by row, and the text each shows now."""

    def __init__(self):
        self.rows = {}          # row id -> {span id: (rule, ts)}
        self.texts = {}         # span id -> the text the page has

    def add(self, row, kind, rule, ts, now):
        span_id = f"{row}-{kind}"
        self.rows.setdefault(row, {})[span_id] = (rule, ts)
        self.texts[span_id] = text = TICK_RULES[rule](ts, now)
        return span(span_id, text)

    def forget(self, row):
        for span_id in self.rows.pop(row, {}):
            self.texts.pop(span_id, None)

    def adopt(self, other):
        """Tick the spans `other` recorded too: markup rendered once for many pages."""
        for row, spans in other.rows.items():
            self.rows.setdefault(row, {}).update(spans)
        self.texts.update(other.texts)

    def changed(self, now):
        """The spans whose text has moved on since the page got them, as oob markup."""
        out = []
        for spans in self.rows.values():
            for span_id, (rule, ts) in spans.items():
                text = TICK_RULES[rule](ts, now)
                if text != self.texts[span_id]:
                    self.texts[span_id] = text
                    out.append(span(span_id, text, oob=True))
        return out


class View:
    """The helpers a dashboard template calls (as `h`): links, clocks and ticking spans."""

    def __init__(self, page_host, now=None, ticks=None):
        self.page_host = page_host
        self.now = time.time() if now is None else now
        self.ticks = ticks if ticks is not None else Ticks()

    def agent_url(self, row):
        return f"http://{self.page_host}:{row['port']}/" if row.get("port") else None

    @staticmethod
    def config_url(name):
        return f"/agents/{name}/config"

    def since(self, row, kind, ts):
        """How long ago `ts` was, in a span that goes on ticking."""
        return self.ticks.add(row, kind, "ago", ts, self.now)

    def left(self, row, kind, deadline):
        """What is left before `deadline`, in a span that goes on ticking."""
        return self.ticks.add(row, kind, "left", deadline, self.now)

    clock = staticmethod(formats.clock)
    rate_limited = staticmethod(formats.rate_limited)
    date_time = staticmethod(formats.date_time)
    size = staticmethod(formats.size)
    clip = staticmethod(formats.clip)
    diff_class = staticmethod(formats.diff_class)
    state_word = staticmethod(formats.state_word)
    system_event = staticmethod(system_event)
    span = staticmethod(span)
    mark = staticmethod(mark)
    budget_caption = staticmethod(budgetview.caption)

    @staticmethod
    def turn(state):
        return formats.turn_glyph(state) + " " + state


# -- sections -------------------------------------------------------------------------------

class Sections:
    """Each live list of the page as the html inside its <ul>, with its counts (oob)."""

    def __init__(self, view):
        self.view = view

    def rows(self, template, items, var, row_id, fresh=(), **extra):
        """The <li> of each item; `fresh` row ids are marked new (they arrive animated)."""
        out = []
        for item in items:
            row = row_id(item)
            self.view.ticks.forget(row)
            out.append(web.render(template, h=self.view, row=row, new=row in fresh,
                                  **{var: item}, **extra))
        return "".join(out)

    def agents(self, agents, transients, fresh=()):
        names = {a["name"] for a in agents}
        waiting = [{"name": n, "step": step} for n, step in sorted(transients.items())
                   if n not in names]
        return (self.rows("dash_transient", waiting, "t", lambda t: f"agent-{t['name']}")
                + self.rows("dash_agent", agents, "a", agent_row, fresh))

    def agent_counts(self, agents):
        """Live, the count and the composer's recipients follow the agents."""
        return span("agents-count", len(agents), "count", oob=True) + recipients(agents, oob=True)

    def kept(self, kept, fresh=()):
        return self.rows("dash_kept", kept, "k", kept_row, fresh)

    def drafts(self, drafts, fresh=()):
        return self.rows("dash_draft", drafts, "d", draft_row, fresh)

    def questions(self, questions, fresh=()):
        return self.rows("dash_question", questions, "q", question_row, fresh)

    def question_counts(self, questions, oob):
        counts = question_counts(questions)
        return span("questions-count", counts["all"], "count", oob) + "".join(
            span(f"questions-count-{key}", counts[key], "chip-count", oob)
            for key, _, _ in QUESTION_CHIPS)

    def approvals(self, approvals, fresh=()):
        return self.rows("dash_approval", approvals, "ap", approval_row, fresh)

    def reminders(self, reminders, fresh=()):
        return self.rows("dash_reminder", reminders, "r", reminder_row, fresh)

    def failed(self, failed, fresh=()):
        return self.rows("failed_row", failed, "f", failed_row, fresh)

    def budgets(self, budgets, fresh=()):
        return self.rows("dash_budget", budgetview.bars(budgets), "b", budget_row, fresh)

    def inbox(self, messages, agent_names, fresh=()):
        return self.rows("dash_inbox", messages, "m", inbox_row, fresh, agent_names=agent_names)

    def flow(self, messages, fresh=()):
        return self.rows("dash_flow", messages, "m", flow_row, fresh)

    def disk(self, disk, oob):
        return web.render("dash_disk", full=disk["full"], oob=oob)

    def approval_queue(self, queue, oob):
        return web.render("dash_queue", q=queue, data=charts.script_json(queue), oob=oob)


def recipients(agents, oob=False):
    return web.render("dash_recipients", names=[a["name"] for a in agents], oob=oob)


def agent_row(a):
    return f"agent-{a['name']}"


def kept_row(k):
    return f"kept-{k['name']}"


def draft_row(d):
    return f"draft-{d['name']}"


def question_row(q):
    return f"q-{q['id']}"


def approval_row(ap):
    return f"approval-{ap['id']}"


def reminder_row(r):
    return f"reminder-{r['id']}"


def failed_row(f):
    return f"failed-{f['message_id']}"

def budget_row(b):
    return f"budget-{b['name']}"


def inbox_row(m):
    return f"inbox-{m['id']}"


def flow_row(m):
    return f"flow-{m['id']}"


ROW_IDS = {"agents": agent_row, "kept": kept_row, "drafts": draft_row, "questions": question_row,
           "approvals": approval_row, "reminders": reminder_row, "failed": failed_row,
           "budgets": budget_row}


# -- the page ---------------------------------------------------------------------------------

def page(s, which, flash_ok=None, flash_error=None):
    """The whole dashboard for snapshot `s`, its questions under the chip `which`."""
    view = View(s["page_host"], s["now"])
    sections = Sections(view)
    questions = question_view(s["questions"], which)
    lists = {
        "agents": sections.agents(s["agents"], s["transients"]),
        "recipients": recipients(s["agents"]),
        "kept": sections.kept(s["kept"]),
        "drafts": sections.drafts(s["drafts"]),
        "questions": sections.questions(questions["shown"]),
        "approvals": sections.approvals(s["approvals"]),
        "reminders": sections.reminders(s["reminders"]),
        "failed": sections.failed(s["failed"]),
        "budgets": sections.budgets(s["budgets"]),
        "inbox": sections.inbox(s["inbox"], {a["name"] for a in s["agents"]}),
        "flow": sections.flow(s["flow"]),
        "disk": sections.disk(s["disk"], oob=False),
        "approval_queue": sections.approval_queue(s["approval_queue"], oob=False),
    }
    return web.render("dashboard", s=s, h=view, lists=lists, questions=questions,
                      flash_ok=flash_ok, flash_error=flash_error)
