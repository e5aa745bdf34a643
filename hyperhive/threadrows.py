"""The store's rows of open threads: approvals, questions and reminders.

Each of them is decided once, so each move out of its open state is one
conditional UPDATE (or INSERT) that only one caller can win: it answers 1 (or
the new id) to the winner and 0 (or None) to everyone who came too late.
"""

import json

from peewee import fn

from .schema import APPROVAL_FIELDS, Approval, Question, Reminder, row_of

REMINDER_FIELDS = ("id", "agent", "message", "due_at", "created_at", "file_path")
QUESTION_FIELDS = ("id", "asker", "target", "question", "multi", "asked_at", "deadline_at",
                   "answered_at", "answer", "answerer")


def _question_row(r):
    row = row_of(r, *QUESTION_FIELDS)
    row["options"] = json.loads(r.options_json)
    return row


class ThreadRows:
    """Mixed into Store: its `_conn` is the shared connection."""

    # -- approvals --------------------------------------------------------

    def add_approval(self, agent, kind, now, commit_ref="", description=None,
                     fetched_sha=None, diff=None, diff_stat=None):
        return Approval.insert(agent=agent, kind=kind, commit_ref=commit_ref,
                               description=description, fetched_sha=fetched_sha,
                               diff=diff, diff_stat=diff_stat, requested_at=now).execute()

    def add_spawn_approval(self, agent, now, commit_ref="", description=None,
                           fetched_sha=None, diff=None, diff_stat=None):
        """A spawn approval unless one for `agent` is pending already (and, for a draft's
        commit, a `fetched_sha`, only while the draft is there): its id, or None. One
        INSERT ... WHERE, so of racing requests (and a discard) only one wins."""
        cursor = self._conn.execute(
            "INSERT INTO approvals (agent, kind, commit_ref, fetched_sha, description, diff, "
            "diff_stat, requested_at, status) SELECT ?, 'spawn', ?, ?, ?, ?, ?, ?, 'pending' "
            "WHERE NOT EXISTS (SELECT 1 FROM approvals WHERE agent = ? AND kind = 'spawn' "
            "AND status = 'pending') AND (? IS NULL OR EXISTS (SELECT 1 FROM agent_dirs "
            "WHERE name = ? AND draft = TRUE))",
            (agent, commit_ref, fetched_sha, description, diff, diff_stat, now, agent,
             fetched_sha, agent))
        return cursor.lastrowid if cursor.rowcount else None

    def spawn_waiting(self, agent):
        return Approval.select().where((Approval.agent == agent) & (Approval.kind == "spawn")
                                       & (Approval.status == "pending")).exists()

    def approval(self, approval_id):
        r = Approval.get_or_none(Approval.id == approval_id)
        return row_of(r, *APPROVAL_FIELDS) if r else None

    def approvals(self, status="pending", agent=None):
        q = Approval.select().order_by(Approval.id)
        if status:
            q = q.where(Approval.status == status)
        if agent:
            q = q.where(Approval.agent == agent)
        return [row_of(r, *APPROVAL_FIELDS) for r in q]

    def approval_spans(self, since):
        """(requested_at, resolved_at) of every approval that was waiting at some time
        after `since`; resolved_at is None while it still waits. (An approved config
        that fails its rollout later has the failure's time as resolved_at, so it counts
        as waiting until then.)"""
        q = (Approval.select(Approval.requested_at, Approval.resolved_at)
             .where(Approval.resolved_at.is_null() | (Approval.resolved_at >= since))
             .order_by(Approval.requested_at))
        return [(r.requested_at, r.resolved_at) for r in q]

    def resolve_approval(self, approval_id, now, status, note):
        """Move a pending approval to `status`: 1 when this call did it, 0 when it was no
        longer pending. One conditional UPDATE, so of racing resolutions only one wins."""
        return (Approval.update(status=status, note=note, resolved_at=now)
                .where((Approval.id == approval_id) & (Approval.status == "pending"))
                .execute())

    def set_approval(self, approval_id, now, **fields):
        if fields.get("status", "pending") != "pending":
            fields["resolved_at"] = now
        return Approval.update(**fields).where(Approval.id == approval_id).execute()

    # -- questions --------------------------------------------------------

    def add_question(self, asker, question, options, multi, now, deadline_at=None, target=None):
        return Question.insert(asker=asker, target=target, question=question,
                               options_json=json.dumps(options), multi=multi,
                               asked_at=now, deadline_at=deadline_at).execute()

    def question(self, qid):
        r = Question.get_or_none(Question.id == qid)
        return _question_row(r) if r else None

    def open_questions(self):
        q = Question.select().where(Question.answered_at.is_null()).order_by(Question.id)
        return [_question_row(r) for r in q]

    def answer_question(self, qid, answer, answerer, now):
        """1 when this call answered the question, 0 when it was answered already."""
        return Question.update(answer=answer, answerer=answerer, answered_at=now).where(
            (Question.id == qid) & Question.answered_at.is_null()).execute()

    def expired_questions(self, now):
        q = Question.select().where(Question.answered_at.is_null()
                                    & (Question.deadline_at <= now))
        return [_question_row(r) for r in q]

    def next_question_deadline(self):
        return (Question.select(fn.MIN(Question.deadline_at))
                .where(Question.answered_at.is_null()).scalar())

    # -- reminders --------------------------------------------------------

    def add_reminder(self, agent, message, due_at, now, file_path=None):
        return Reminder.insert(agent=agent, message=message, due_at=due_at,
                               created_at=now, file_path=file_path).execute()

    def due_reminders(self, now, limit=100):
        q = (Reminder.select().where(Reminder.delivered_at.is_null() & (Reminder.due_at <= now))
             .order_by(Reminder.due_at).limit(limit))
        return [row_of(r, "id", "agent", "message", "file_path", "due_at") for r in q]

    def mark_reminder(self, rid, message_id, now):
        """1 when this call delivered the reminder, 0 when it was delivered already."""
        return Reminder.update(delivered_at=now, message_id=message_id).where(
            (Reminder.id == rid) & Reminder.delivered_at.is_null()).execute()

    def next_reminder_due(self):
        return (Reminder.select(fn.MIN(Reminder.due_at))
                .where(Reminder.delivered_at.is_null()).scalar())

    def reminders_pending(self, agent=None):
        """The undelivered reminders, soonest first; one agent's when `agent` is given."""
        q = Reminder.select().where(Reminder.delivered_at.is_null())
        if agent is not None:
            q = q.where(Reminder.agent == agent)
        return [row_of(r, *REMINDER_FIELDS) for r in q.order_by(Reminder.due_at, Reminder.id)]

    def cancel_reminder(self, rid, agent=None):
        """1 when this call cancelled the pending reminder, 0 when it was delivered (or
        cancelled) already, or is not `agent`'s. A cancelled reminder is deleted, not
        marked: every pending query (due, next, counts, prune) already reads "delivered_at
        is null", and a reminder that never posted a message leaves nothing worth keeping.
        One conditional DELETE, so of a cancel and the timer's `mark_reminder` only one
        finds the row."""
        q = Reminder.delete().where((Reminder.id == rid) & Reminder.delivered_at.is_null())
        if agent is not None:
            q = q.where(Reminder.agent == agent)
        return q.execute()

    def pending_reminders(self, agent):
        return Reminder.select().where((Reminder.agent == agent)
                                       & Reminder.delivered_at.is_null()).count()

    def pending_reminder_counts(self):
        q = (Reminder.select(Reminder.agent, fn.COUNT(Reminder.id).alias("n"))
             .where(Reminder.delivered_at.is_null()).group_by(Reminder.agent))
        return {r.agent: r.n for r in q}
