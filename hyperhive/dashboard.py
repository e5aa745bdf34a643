"""The operator's dashboard on the host (port 7000).

One server-rendered page that works with JavaScript off, a JSON snapshot, an
SSE stream of the broker's dashboard events, an agent's journal as text, and
the POST actions. Every change goes through a broker method with the operator
as the caller; this module only turns HTTP into those calls and their answers
(or errors) back into HTTP.
"""

import json
import logging
import re
import time

import bottle
import gevent

from . import journal, names, web
from .errors import HTTP_STATUS, BadArgs, HiveError
from .names import OPERATOR

log = logging.getLogger(__name__)

INBOX_LIMIT = 50
FLOW_LIMIT = 100
JOURNAL_DEFAULT = 200
JOURNAL_MAX = 5000
_AT_NAME = re.compile(r"@(\*|[a-z][a-z0-9-]*)\s+(.*)\Z", re.S)
_YES = ("yes", "on", "1", "true")
# the questions panel's chips: key (the `q` parameter), label, and what an empty list says
QUESTION_CHIPS = (("all", "all", "no open questions"),
                  ("operator", "@operator", "nothing is asked of you"),
                  ("peer", "@peer", "no questions between agents"))


def serve(broker, sessions, bind, port):
    """Start the dashboard in the background; the caller stops it with `.stop(timeout)`."""
    return web.serve(make_app(broker, sessions, bind), bind, port)


def snapshot(broker, streams=None):
    """Everything the page shows. `seq` is read first: events after it may already be in here."""
    seq = broker.last_seq()
    try:
        kept = broker.operations.kept_state()
        drafts = broker.operations.drafts()["drafts"]
    except HiveError:
        kept, drafts = [], []
    return {
        "seq": seq,
        "now": time.time(),
        "agents": broker.status_rows(),
        "kept": kept,
        "drafts": drafts,
        "questions": broker.questions.open()["questions"],
        "inbox": broker.messages.inbox(INBOX_LIMIT)["messages"],
        "approvals": broker.approvals.pending()["approvals"],
        "flow": broker.messages.flow(FLOW_LIMIT),
        "transients": broker.agents.transients(),
        "streams": int(streams) if streams is not None else 0,
        "isolated": bool(getattr(broker.lifecycle, "isolated", False)),
        "disk": broker.disk_state(),
    }


class View:
    """Formatting for the template; hive.js has the same rules."""

    def __init__(self, page_host, now):
        self.page_host = page_host
        self.now = now

    def agent_url(self, row):
        return f"http://{self.page_host}:{row['port']}/" if row.get("port") else None

    def age(self, ts):
        if not ts:
            return ""
        return web.duration(max(0, self.now - ts))

    def ttl(self, deadline):
        return web.duration(max(0, deadline - self.now), precise=True)

    def clock(self, ts):
        return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else ""

    @staticmethod
    def size(n):
        n = float(n or 0)
        for unit in ("B", "KB", "MB", "GB"):
            if n < 1024 or unit == "GB":
                return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
            n /= 1024
        return ""

    @staticmethod
    def turn(state):
        return TURN_GLYPHS.get(state, "·") + " " + state

    @staticmethod
    def diff_class(line):
        if line.startswith(("+++", "---")):
            return "d-file"
        if line.startswith("+"):
            return "d-add"
        if line.startswith("-"):
            return "d-del"
        if line.startswith("@@"):
            return "d-hunk"
        return ""

    @staticmethod
    def clip(text, limit=600):
        text = text or ""
        return text if len(text) <= limit else text[:limit] + "…"

    @staticmethod
    def system_event(body):
        """A system message's JSON body as (event, "agent scout · status approved"), or None."""
        return system_event(body)


# The fields of a system event worth a glance, in the order a person reads them.
EVENT_FIELDS = ("agent", "kind", "status", "tag", "note", "question", "answer", "answerer",
                "rc", "restarting", "purged", "spec", "error", "reason")


def system_event(body):
    try:
        data = json.loads(body or "")
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        return None
    parts = [f"{key} {_event_value(data[key])}" for key in EVENT_FIELDS
             if data.get(key) not in (None, "", [], {})]
    return data["event"], " · ".join(parts)


def _event_value(value):
    # as hive.js writes it: JSON for lists, objects and booleans
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


TURN_GLYPHS = {"thinking": "🧠", "compacting": "⌁", "napping": "💤", "idle": "·"}


def question_filter(raw):
    """The chip picked with `?q=`; anything else (a stale bookmark, a typo) means all."""
    return raw if raw in {key for key, _, _ in QUESTION_CHIPS} else "all"


def question_kind(q):
    """A question without a target was asked of the operator; one with a target, of a peer."""
    return "operator" if q.get("target") is None else "peer"


def question_view(questions, which):
    """The questions panel under the chip `which`: the rows it shows, and the chips."""
    counts = {"all": len(questions), "operator": 0, "peer": 0}
    for q in questions:
        counts[question_kind(q)] += 1
    chips = [{"key": key, "label": label, "empty": empty, "count": counts[key],
              "current": key == which} for key, label, empty in QUESTION_CHIPS]
    shown = [q for q in questions if which == "all" or question_kind(q) == which]
    empty = next(c["empty"] for c in chips if c["current"])
    return {"filter": which, "shown": shown, "chips": chips, "empty": empty}


def _page_host(bind):
    if bind in ("", "0.0.0.0", "::"):
        return bottle.request.urlparts.hostname or "127.0.0.1"
    return f"[{bind}]" if ":" in bind else bind


def make_app(broker, sessions, bind="127.0.0.1"):
    app = bottle.Bottle()
    web.install(app, bind, sessions)
    streams = web.Gauge()

    def state():
        s = snapshot(broker, streams)
        s["page_host"] = _page_host(bind)
        return s

    @app.get("/")
    def index():
        s = state()
        query = bottle.request.query
        questions = question_view(s["questions"], question_filter(query.getunicode("q")))
        return web.html(web.render(
            "dashboard", s=s, h=View(s["page_host"], s["now"]), questions=questions,
            flash_ok=query.getunicode("ok"), flash_error=query.getunicode("error")))

    @app.get("/api/state")
    def api_state():
        return web.json_reply(state())

    @app.get("/events")
    def events():
        return web.sse(broker, streams)

    @app.get("/api/journal/<name:path>")
    def journal_text(name):
        bottle.response.content_type = "text/plain; charset=utf-8"
        if not names.is_valid(name):
            bottle.response.status = 400
            return "not a valid agent name\n"
        raw = bottle.request.query.get("lines") or str(JOURNAL_DEFAULT)
        try:
            lines = max(1, min(int(raw), JOURNAL_MAX))
        except ValueError:
            bottle.response.status = 400
            return "lines must be a number from 1 to 5000\n"
        try:
            query = broker.operations.journal_query(OPERATOR, name)
        except HiveError as exc:
            bottle.response.status = HTTP_STATUS.get(exc.code, 500)
            return exc.message + "\n"
        # Off the hub: a 5,000-line read takes about 0.2 s of Reader calls that would
        # stall every other page and socket meanwhile.
        text = gevent.get_hub().threadpool.apply(journal.read_journal, (query, lines))
        return "\n".join(text) + "\n"

    def whole_diff(id):
        """An approval with its whole diff and sha256, or a plain-text HTTP error."""
        try:
            return broker.approvals.diff(OPERATOR, web.int_arg(id))
        except HiveError as exc:
            raise bottle.HTTPResponse(exc.message + "\n", status=HTTP_STATUS.get(exc.code, 500),
                                      headers={"Content-Type": "text/plain; charset=utf-8"})

    @app.get("/approvals/<id>")
    def approval_review(id):
        """The whole diff of an approval, then the approve form that carries its sha256."""
        ap = whole_diff(id)
        return web.html(web.render("approval_diff", ap=ap, h=View(_page_host(bind), time.time())))

    @app.get("/approvals/<id>/diff")
    def approval_diff_text(id):
        ap = whole_diff(id)
        bottle.response.content_type = "text/plain; charset=utf-8"
        return ap["diff"]

    _actions(app, broker)
    return app


def _actions(app, broker):
    def post(path, back="/"):
        return web.action(app, path, back)

    # -- approvals and spawns --------------------------------------------------

    @post("/approve/<id>", back="/#approvals")
    def approve(form, id):
        digest = web.field(form, "diff_sha256", required=False, strip=True)
        result = broker.operations.approve(OPERATOR, web.int_arg(id), digest or None)
        return {"flash": f"approved #{result['id']}", **result}

    @post("/deny/<id>", back="/#approvals")
    def deny(form, id):
        note = web.field(form, "note", required=False, strip=True)
        result = broker.operations.deny(OPERATOR, web.int_arg(id), note)
        return {"flash": f"denied #{result['id']}", **result}

    @post("/request-spawn", back="/#approvals")
    def request_spawn(form):
        name = web.field(form, "name", strip=True)
        description = web.field(form, "description", required=False, strip=True)
        result = broker.operations.request_spawn(OPERATOR, name, description)
        return {"flash": f"spawn of {name} is waiting for approval #{result['id']}", **result}

    # -- lifecycle ---------------------------------------------------------------

    def lifecycle(verb, method, done):
        @post(f"/{verb}/<name>", back="/#containers")
        def handler(form, name):
            result = getattr(broker.operations, method)(OPERATOR, name) or {}
            return {"flash": f"{name} {done}", **result}
        handler.__name__ = verb

    lifecycle("start", "start", "started")
    lifecycle("stop", "stop", "stopped")
    lifecycle("restart", "restart", "restarted")
    lifecycle("rebuild", "rebuild", "rebuilt")

    @post("/destroy/<name>", back="/#containers")
    def destroy(form, name):
        purge = (form.get("purge") or "").lower() in _YES
        if (asked := _ask_first(form, "destroy", name, purge=purge)) is not None:
            return asked
        result = broker.operations.destroy(OPERATOR, name, purge=purge)
        kept = "its state is purged" if purge else "its state is kept"
        return {"flash": f"{name} destroyed; {kept}", **result}

    @post("/purge/<name>", back="/#kept")
    def purge(form, name):
        if (asked := _ask_first(form, "purge", name)) is not None:
            return asked
        result = broker.operations.purge(OPERATOR, name)
        return {"flash": f"kept state of {name} purged", **result}

    @post("/discard-draft/<name>", back="/#drafts")
    def discard_draft(form, name):
        if (asked := _ask_first(form, "discard-draft", name)) is not None:
            return asked
        result = broker.operations.discard_draft(OPERATOR, name)
        return {"flash": f"draft {name} discarded", **result}

    @post("/revive/<name>", back="/#containers")
    def revive(form, name):
        result = broker.operations.spawn(OPERATOR, name)
        return {"flash": f"{name} revived", **result}

    # -- questions ---------------------------------------------------------------

    @post("/answer/<id>", back="/#questions")
    def answer(form, id):
        text = web.field(form, "answer", required=False, strip=True)
        if not text:
            text = ", ".join(o.strip() for o in form.getall("option") if o.strip())
        if not text:
            raise BadArgs("pick an option or type an answer")
        qid = web.int_arg(id)
        broker.questions.answer(OPERATOR, qid, text)
        return {"flash": f"answered #{qid}", "id": qid, "answer": text}

    @post("/cancel-question/<id>", back="/#questions")
    def cancel_question(form, id):
        qid = web.int_arg(id)
        broker.questions.cancel(OPERATOR, qid)
        return {"flash": f"question #{qid} cancelled", "id": qid}

    # -- messages ------------------------------------------------------------------

    @post("/send", back="/#flow")
    def send(form):
        body = form.get("body") or ""
        to = (form.get("to") or "").strip().lstrip("@")
        m = _AT_NAME.match(body.lstrip())
        if m:
            to, body = m.group(1), m.group(2)
        if not to:
            raise BadArgs("say who it is for: pick a recipient or start the message with @name")
        if not body.strip():
            raise BadArgs("the message is empty")
        raw_reply = web.field(form, "in_reply_to", required=False, strip=True)
        in_reply_to = web.int_arg(raw_reply, "in_reply_to") if raw_reply else None
        result = broker.messages.send(OPERATOR, to, body, in_reply_to)
        shown = "everyone" if to == "*" else to
        return {"flash": f"sent #{result['id']} to {shown}", "to": to, **result}


def _ask_first(form, verb, name, purge=False):
    """The page that asks before a destructive form goes through; None once confirmed."""
    names.check(name)
    return None if form.get("confirm") == "yes" else _confirm(verb, name, purge)


def _confirm(verb, name, purge=False):
    """Without JavaScript a destructive form lands here first and asks once."""
    if web.wants_json():
        raise BadArgs(f"{verb} needs confirm=yes")
    page = web.render("confirm", verb=verb, name=name, purge=purge)
    return bottle.HTTPResponse(page, status=200,
                               headers={"Content-Type": "text/html; charset=utf-8"})
