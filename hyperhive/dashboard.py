"""The operator's dashboard on the host (port 7000).

One server-rendered page that works with JavaScript off (dashview.py), the
stream of page fragments that keeps it live (dashlive.py), a JSON snapshot, the
SSE stream of the broker's dashboard events (for `ctl subscribe` and API
clients), an agent's journal as text, and the POST actions. Every change goes
through a broker method with the operator as the caller; this module only turns
HTTP into those calls and their answers (or errors) back into HTTP.
"""

import json
import logging
import re

import bottle
import gevent

from . import dashlive, dashview, formats, journal, names, repos, searchweb, sse, web
from .bounds import MAX_BUDGET_USD
from .errors import BadArgs, HiveError
from .names import OPERATOR

log = logging.getLogger(__name__)

JOURNAL_DEFAULT = 200
JOURNAL_MAX = 5000
_AT_NAME = re.compile(r"@(\*|[a-z][a-z0-9-]*)\s+(.*)\Z", re.S)
_YES = ("yes", "on", "1", "true")


def serve(broker, sessions, settings, bind, port):
    """Start the dashboard in the background; the caller stops it with `.stop(timeout)`."""
    return web.serve(make_app(broker, sessions, settings, bind), bind, port)


def _page_host(bind):
    if bind in ("", "0.0.0.0", "::"):
        return bottle.request.urlparts.hostname or "127.0.0.1"
    return f"[{bind}]" if ":" in bind else bind


def make_app(broker, sessions, settings, bind="127.0.0.1"):
    app = bottle.Bottle()
    web.install(app, settings, bind, sessions)
    streams = sse.Gauge()
    keepalive = sse.keepalive_seconds(settings)
    shared = dashlive.Shared(broker)       # what every open page does alike, done once

    def state():
        s = dashview.snapshot(broker, streams)
        s["page_host"] = _page_host(bind)
        return s

    @app.get("/")
    def index():
        query = bottle.request.query
        return web.html(dashview.page(state(), dashview.question_filter(query.getunicode("q")),
                                      query.getunicode("ok"), query.getunicode("error")))

    @app.get("/api/state")
    def api_state():
        return web.json_reply(state())

    @app.get("/events")
    def events():
        return sse.stream(broker, streams, keepalive)

    @app.get("/events/page")
    def page_events():
        """The page's own stream: its sections, then the fragments each event changes."""
        live = dashlive.Live(broker, _page_host(bind), shared=shared)
        return sse.stream(broker, streams, keepalive, render=live.render, hello=live.hello, tick=live.tick)

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
            query = broker.reads.journal_query(OPERATOR, name)
        except HiveError as exc:
            raise web.plain_error(exc) from None
        # Off the hub: a 5,000-line read takes about 0.2 s of Reader calls that would
        # stall every other page and socket meanwhile.
        text = gevent.get_hub().threadpool.apply(journal.read_journal, (query, lines))
        return "\n".join(text) + "\n"

    def whole_diff(id):
        """An approval with its whole diff and sha256, or a plain-text HTTP error."""
        try:
            return broker.approvals.diff(OPERATOR, web.int_arg(id))
        except HiveError as exc:
            raise web.plain_error(exc) from None

    @app.get("/approvals/<id>")
    def approval_review(id):
        """The whole diff of an approval, then the approve form that carries its sha256."""
        ap = whole_diff(id)
        return web.html(web.render("approval_diff", ap=ap, h=dashview.View(_page_host(bind))))

    @app.get("/approvals/<id>/diff")
    def approval_diff_text(id):
        ap = whole_diff(id)
        bottle.response.content_type = "text/plain; charset=utf-8"
        return ap["diff"]

    @app.get("/agents/<name>/config")
    def config_view(name):
        """An agent's applied agent.json and its config repo's history, tags by kind."""
        raw = bottle.request.query.get("limit")
        try:
            limit = web.int_arg(raw, "limit") if raw else repos.HISTORY_DEFAULT
            view = broker.reads.config_view(OPERATOR, name, limit)
        except HiveError as exc:
            raise web.plain_error(exc) from None
        here = f"/agents/{name}/config" + (f"?limit={limit}" if raw else "")
        return web.html(web.render("config_view", view=view, here=here,
                                   config=json.dumps(view["config"], indent=2, sort_keys=True),
                                   h=dashview.View(_page_host(bind))))

    searchweb.install(app, broker, lambda: _page_host(bind))
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

    def pausing(verb, paused, done):
        @post(f"/{verb}/<name>", back="/#containers")
        def handler(form, name):
            result = broker.agents.set_paused(name, paused)
            return {"flash": f"{name} {done}", **result}
        handler.__name__ = verb

    # A paused agent is handed no messages until it is resumed (agents.set_paused).
    pausing("pause", True, "paused: it is handed no messages until resumed")
    pausing("resume", False, "resumed")

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

    @post("/cancel-reminder/<id>", back="/#reminders")
    def cancel_reminder(form, id):
        rid = web.int_arg(id)
        broker.reminders.cancel(OPERATOR, rid)
        return {"flash": f"reminder #{rid} cancelled", "id": rid}

    # -- failed turns ----------------------------------------------------------------

    @post("/retry-failed/<id>", back="/#failed")
    def retry_failed(form, id):
        mid = web.int_arg(id)
        result = broker.failed.retry(mid)
        return {"flash": f"message #{mid} is back in {result['agent']}'s inbox", **result}

    @post("/discard-failed/<id>", back="/#failed")
    def discard_failed(form, id):
        mid = web.int_arg(id)
        result = broker.failed.discard(mid)
        return {"flash": f"failed message #{mid} discarded", **result}

    # -- budgets -------------------------------------------------------------------

    @post("/budget/<name>", back="/#budgets")
    def budget(form, name):
        lift = (form.get("lift") or "").lower() in _YES
        raw = web.field(form, "raise_usd", required=False, strip=True)
        if not lift and not raw:
            raise BadArgs("give an amount of dollars to raise the budget by, or lift it")
        raise_usd = None if lift else _raise_amount(raw)
        row = broker.budgets.manage(name, raise_usd=raise_usd, lift=lift)["budget"]
        done = "lifted for today" if lift else f"raised by {formats.dollars(raise_usd)} for today"
        return {"flash": f"{name}'s budget {done}", **row}

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


def _raise_amount(text):
    try:
        usd = float(text)
    except ValueError:
        raise BadArgs("the raise must be a number of dollars") from None
    if not 0.01 <= usd <= MAX_BUDGET_USD:       # NaN fails this too
        raise BadArgs(f"the raise must be from $0.01 to {formats.dollars(MAX_BUDGET_USD)}")
    return usd


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
