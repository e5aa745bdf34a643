"""Full-text search over every message, question and answer, and the thread a message
belongs to.

A query is plain words: every word must be in a hit, in any order. The words are taken
out of the text (letters and digits; everything else separates them) and each is given
to FTS5 as a quoted string, so nothing a caller types is read as FTS5 syntax: no column
filter, NEAR, prefix `*`, boolean operator or unbalanced quote reaches sqlite.

The operator searches everything (or what one agent sent or received); an agent or the
manager searches what it sent or received, and the caller comes from the socket.
"""

import re

from . import bounds
from .errors import BadArgs, NotFound
from .names import OPERATOR
from .searchrows import HIT_CLOSE, HIT_OPEN, SearchError

# unicode61's token characters are letters and numbers; `_` is \w in Python, not there.
_WORD = re.compile(r"[^\W_]+")
ORDERS = ("newest", "best")
THREAD_PARENTS = 20            # messages a thread page climbs up through
THREAD_REPLIES = 100           # replies it lists


def query_words(text):
    """The caller's words: letters and digits, everything else separates them."""
    words = _WORD.findall(text)
    if not words:
        raise BadArgs("`query` has no words to look for (letters or digits)")
    if len(words) > bounds.MAX_SEARCH_WORDS:
        raise BadArgs(f"`query` has {len(words)} words; at most "
                      f"{bounds.MAX_SEARCH_WORDS} are looked for at once")
    return words


def unmark(snippet):
    """A snippet with its hit marks taken out: its plain text, and the hits as
    [start, end) ranges of it. Stray marks (a body may hold the characters) are dropped."""
    text, marks, start = [], [], None
    length = 0
    for piece in re.split(f"([{HIT_OPEN}{HIT_CLOSE}])", snippet or ""):
        if piece == HIT_OPEN:
            start = length
        elif piece == HIT_CLOSE:
            if start is not None and length > start:
                marks.append([start, length])
            start = None
        else:
            text.append(piece)
            length += len(piece)
    return "".join(text), marks


def _public(hit):
    hit = dict(hit)
    hit.pop("rank")
    hit["snippet"], hit["marks"] = unmark(hit["snippet"])
    if hit["to"] is None:               # a question to no agent is the operator's
        hit["to"] = OPERATOR
    return hit


class Searches:
    def __init__(self, bus):
        self.store = bus.store

    def search(self, caller, query, limit=None, agent=None, order=None):
        """The newest (or best) hits for `query`: messages and questions, each with who
        sent it to whom, when, and a snippet with the hits marked."""
        if caller != OPERATOR:
            if agent not in (None, caller):
                # Said alike whether that agent exists or not.
                raise BadArgs("you can search only what you sent or received; "
                              "leave `agent` out")
            agent = caller
        limit = bounds.SEARCH_RESULTS if limit is None else limit
        if not 1 <= limit <= bounds.MAX_SEARCH_RESULTS:
            raise BadArgs(f"`limit` must be between 1 and {bounds.MAX_SEARCH_RESULTS}")
        order = order or "newest"
        if order not in ORDERS:
            raise BadArgs(f"`order` must be one of {', '.join(ORDERS)}")
        words = query_words(query)
        best = order == "best"
        try:
            hits = (self.store.search_messages(words, limit, agent, best)
                    + self.store.search_questions(words, limit, agent, best))
        except SearchError:
            raise BadArgs("those words cannot be searched for; try plain words") from None
        hits.sort(key=(lambda h: h["rank"]) if best else (lambda h: -h["at"]))
        return {"results": [_public(h) for h in hits[:limit]], "words": words}

    def thread(self, msg_id):
        """The operator's view of a message's thread: what it replies to (up the chain),
        the message, and its replies."""
        message = self.store.message(msg_id)
        if message is None:
            raise NotFound(f"there is no message #{msg_id}")
        parents, seen = [], {msg_id}
        parent_id = message["in_reply_to"]
        while parent_id is not None and parent_id not in seen \
                and len(parents) < THREAD_PARENTS:
            seen.add(parent_id)
            parent = self.store.message(parent_id)
            if parent is None:
                break
            parents.append(parent)
            parent_id = parent["in_reply_to"]
        replies = [self.store.message(i) for i in self.store.replies_to(msg_id, THREAD_REPLIES)]
        return {"message": message, "parents": parents[::-1],
                "replies": [r for r in replies if r is not None]}

    def question(self, qid):
        q = self.store.question(qid)
        if q is None:
            raise NotFound(f"there is no question #{qid}")
        return q
