"""Questions: an agent asks the operator (or another agent); the answer, a cancel or the
deadline closes it, once, and the asker hears how as a system message."""

from . import bounds, checks
from .errors import BadArgs, Conflict, Forbidden, NotFound
from .names import OPERATOR

EXPIRED = "[expired]"
CANCELLED = "[cancelled]"
WATCHDOG = "ttl-watchdog"       # the answerer of an expired question


class Questions:
    def __init__(self, bus, agents, messages):
        self.bus = bus
        self.store = bus.store
        self.agents = agents
        self.messages = messages

    def ask(self, caller, question, options=None, multi=False, ttl_seconds=None, to=None):
        checks.text(question, "question", limit=bounds.MAX_QUESTION)
        options = _options(options)
        if not isinstance(multi, bool):
            raise BadArgs("`multi` must be true or false")
        target = None if to in (None, "", OPERATOR) else to
        if target is not None:
            if target == caller:
                raise BadArgs("you cannot ask yourself a question")
            self.agents.need(target)
            self.messages.check_policy(caller, target, "ask")
        deadline = self._deadline(ttl_seconds)

        def write():
            self._check_open_questions(caller)     # in the write: a burst cannot slip past
            qid = self.store.add_question(caller, question, options, multi, self.bus.clock(),
                                          deadline_at=deadline, target=target)
            self.bus.emit("question_added", id=qid, asker=caller, target=target,
                          question=question, options=options, multi=multi,
                          deadline_at=deadline)
            if target:
                self.bus.post_system(target, "question_asked", id=qid, asker=caller,
                                     question=question, options=options, multi=multi)
            return qid
        qid = self.bus.write(write)
        if target:
            self.bus.ring(target)
        if deadline:
            self.bus.timer_bell.set()
            self.bus.announce_timers()
        return {"id": qid}

    def _deadline(self, ttl_seconds):
        if ttl_seconds is None:
            return None
        if not isinstance(ttl_seconds, (int, float)) or ttl_seconds <= 0:
            raise BadArgs("`ttl_seconds` must be a positive number of seconds")
        return self.bus.clock() + min(ttl_seconds, bounds.MAX_TTL)

    def _check_open_questions(self, caller):
        if caller == OPERATOR:
            return
        mine = sum(1 for q in self.store.open_questions() if q["asker"] == caller)
        if mine >= bounds.MAX_OPEN_QUESTIONS:
            raise Conflict(f"you have {mine} open questions, the most one agent may have; "
                           "wait for answers, or ask the operator to cancel the ones you no "
                           "longer need")

    def answer(self, caller, id, answer):
        checks.text(answer, "answer", limit=bounds.MAX_ANSWER)
        q = self.store.question(id) if isinstance(id, int) else None
        if q is None:
            raise NotFound(f"there is no question #{id}")
        if q["answered_at"] is not None:
            raise Conflict(f"question #{id} was already answered ({q['answer']!r})")
        if caller != OPERATOR and caller != q["target"]:
            raise Forbidden(f"question #{id} was not asked of you")
        self._resolve(q, answer, caller)
        return {}

    def cancel(self, caller, id):
        q = self.store.question(id) if isinstance(id, int) else None
        if q is None or q["answered_at"] is not None:
            raise NotFound(f"there is no open question #{id}")
        self._resolve(q, CANCELLED, caller)
        return {}

    def expire_due(self, now):
        """Close every question past its deadline (the timers call this)."""
        for q in self.store.expired_questions(now):
            try:
                self._resolve(q, EXPIRED, WATCHDOG)
            except Conflict:
                pass            # answered in the meantime: that answer stands

    def _resolve(self, q, answer, answerer):
        """The one step that closes a question: a conditional write only one caller wins;
        the others hear Conflict and tell nobody."""
        tell = self.agents.exists(q["asker"]) or q["asker"] == OPERATOR

        def write():
            if not self.store.answer_question(q["id"], answer, answerer, self.bus.clock()):
                raise Conflict(f"question #{q['id']} was already answered")
            if tell:
                self.bus.emit("question_resolved", id=q["id"], target=q["target"],
                              answer=answer, answerer=answerer)
                self.bus.post_system(q["asker"], "question_answered", id=q["id"],
                                     question=q["question"], answer=answer, answerer=answerer)
        self.bus.write(write)
        if tell:
            self.bus.ring(q["asker"])

    def open(self):
        return {"questions": self.store.open_questions()}


def _options(options):
    options = options or []
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise BadArgs("`options` must be a list of strings")
    if len(options) > bounds.MAX_OPTIONS or any(len(o) > bounds.MAX_OPTION for o in options):
        raise BadArgs(f"a question has at most {bounds.MAX_OPTIONS} options of at most "
                      f"{bounds.MAX_OPTION} characters each")
    return options
