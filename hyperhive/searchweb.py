"""The operator's search pages on the dashboard's app: the search box's hits, a message's
thread and a question with its answer. Behind the operator's session like every page;
each only turns HTTP into a broker call (the operator as the caller) and renders it.

A hit's snippet is the text of a message: the template escapes every piece of it and
wraps the hit ranges the broker gave in <mark> (formats.hit_pieces); nothing of the
snippet is ever taken as markup.
"""

from urllib.parse import urlencode

import bottle

from . import bounds, dashview, formats, web
from .errors import BadArgs, HiveError
from .names import OPERATOR


def install(app, broker, page_host):
    """Add GET /search, /search/hits, /messages/<id> and /questions/<id> to `app`."""

    def view():
        return dashview.View(page_host())

    def hits():
        """The query's hits, or the error that explains why there are none."""
        q = bottle.request.query
        text = (q.getunicode("q") or "").strip()
        agent = (q.getunicode("agent") or "").strip() or None
        found = {"q": text, "agent": agent or "", "results": [], "error": None}
        if not text:
            return found
        try:
            raw = q.get("limit")
            limit = web.int_arg(raw, "limit") if raw else bounds.SEARCH_RESULTS
            if len(text.encode()) > bounds.MAX_SEARCH_QUERY:
                raise BadArgs(f"the query is over its {bounds.MAX_SEARCH_QUERY}-byte "
                                  "limit; search for fewer words")
            found["results"] = broker.searches.search(OPERATOR, text, limit, agent,
                                                      q.getunicode("order"))["results"]
        except HiveError as exc:
            found["error"] = exc.message
        return found

    @app.get("/search")
    def search_page():
        found = hits()
        best = "/search?" + urlencode({"q": found["q"], "agent": found["agent"], "order": "best"})
        return web.html(web.render("search", found=found, best=best, h=view(),
                                   pieces=formats.hit_pieces))

    @app.get("/search/hits")
    def search_hits():
        """The hits alone, for the search box to swap in as one types."""
        return web.html(web.render("search_hits", found=hits(), h=view(),
                                   pieces=formats.hit_pieces))

    @app.get("/messages/<id>")
    def thread_page(id):
        try:
            thread = broker.searches.thread(web.int_arg(id))
        except HiveError as exc:
            raise web.plain_error(exc) from None
        return web.html(web.render("thread", thread=thread, h=view()))

    @app.get("/questions/<id>")
    def question_page(id):
        try:
            question = broker.searches.question(web.int_arg(id))
        except HiveError as exc:
            raise web.plain_error(exc) from None
        return web.html(web.render("question_view", q=question, h=view()))
