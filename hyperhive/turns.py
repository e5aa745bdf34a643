"""One message, one turn: run claude on it, compact the session when it is too long,
record how the turn went; and between turns, have notes.md rewritten once it outgrew
its limit.
"""

import logging
import time

import gevent
import gevent.lock

from . import claude, journal, notes, prompts
from .bounds import MAX_TURN_COST_USD
from .errors import Conflict
from .states import TurnState
from .stream import summarise

log = logging.getLogger(__name__)


class TurnDriver:
    def __init__(self, harness):
        self.harness = harness
        self.turn = None            # the running claude, for a stop or the operator's cancel
        self.inflight = set()       # what the turn took from the inbox: acked when it ends well
        self.operator_cancel = False
        self.usage = {}             # the last turn's tokens and cost, for the page
        self.last_turn = None
        # One claude at a time on the session: a turn waits for an operator's compaction.
        # Harness.handle holds it around take().
        self.session_lock = gevent.lock.BoundedSemaphore()

    def take(self, message, unread):
        """Run the turn for one message; its result, once it is recorded and acked."""
        harness = self.harness
        self.inflight = {message["id"]}
        self.operator_cancel = False
        started = time.time()
        harness.bus.emit("turn_start", **{"from": message["from"],
                                          "body": message["body"][:4000], "unread": unread,
                                          "redelivered": message["redelivered"],
                                          "id": message["id"]})
        journal.event(log, "turn_start", f"turn for message #{message['id']} from "
                      f"{message['from']}", HIVE_FROM=message["from"])
        harness.set_state(TurnState.THINKING)
        result = self.drive(prompts.wake_prompt(message, unread))
        if result.outcome == "ok" or (result.outcome == "cancelled" and self.operator_cancel):
            harness.link.ack(self.inflight)
        self.finish(message, result, started, inbox_depth=unread)
        return result

    def drive(self, prompt):
        harness = self.harness
        result = self.run_claude(prompt)
        if result.outcome == "failed" and "No conversation found" in (result.note or ""):
            harness.new_session()
            result = self.run_claude(prompt)
        if result.outcome != "prompt_too_long" or harness.stopping.is_set():
            return result
        if harness.session_id:
            harness.set_state(TurnState.COMPACTING)
            compacted = self.compact_session()
            harness.set_state(TurnState.THINKING)
            if compacted.outcome == "ok":
                result = self.run_claude(prompt)
        if result.outcome == "prompt_too_long" and harness.session_id:
            harness.bus.emit("note", text="still too long after compacting: starting a fresh "
                             "session", level="warn")
            harness.new_session()
            result = self.run_claude(prompt)
        return result

    def run_claude(self, prompt):
        harness, setup = self.harness, self.harness.setup
        if harness.is_manager:
            setup.write_files()   # the sandbox must see repos spawned since boot
        argv = claude.build_argv(harness.claude_bin, harness.model, harness.session_id,
                                 **self._argv_options())
        result = self._run(claude.ClaudeTurn(
            setup.as_claude(argv), prompt, cwd=str(harness.state_dir), env=setup.claude_env(),
            on_event=self._on_stream, on_stderr=self._on_stderr))
        harness.keep_session(result.session_id)
        return result

    def _argv_options(self):
        return {"hive_dir": str(self.harness.hive_dir), "builtins": claude.DEFAULT_BUILTINS,
                "allowed": self.harness.setup.allowed_rules()}

    def _run(self, turn):
        self.turn = turn
        try:
            return turn.run()
        finally:
            self.turn = None

    def cancel(self):
        """The operator's cancel of the running turn (SIGINT to claude); False if none."""
        if self.turn is None:
            return False
        self.operator_cancel = True
        self.turn.cancel()
        return True

    def stop(self):
        if self.turn is not None:
            self.turn.cancel()

    # -- compaction ----------------------------------------------------------------------

    def compact_session(self):
        harness, setup = self.harness, self.harness.setup
        argv = claude.compact_argv(harness.claude_bin, harness.model, harness.session_id,
                                   **self._argv_options())
        result = claude.run_compact(setup.as_claude(argv), cwd=str(harness.state_dir),
                                    env=setup.claude_env(), on_event=self._on_stream,
                                    on_stderr=self._on_stderr)
        harness.keep_session(result.session_id)
        level = "info" if result.outcome == "ok" else "warn"
        harness.bus.emit("note", text=f"compaction {result.outcome}: {result.note or 'done'}",
                         level=level)
        return result

    def compact_now(self):
        """The operator's compact button: only between turns, and it answers at once.

        The compaction runs on its own; its progress and outcome reach the page as
        stream rows and a note, like a turn's.
        """
        harness = self.harness
        if harness.state != TurnState.IDLE or self.turn is not None:
            raise Conflict(f"the agent is {harness.state.value}; compact when it is idle")
        if not harness.session_id:
            raise Conflict("there is no session to compact yet")
        if not self.session_lock.acquire(blocking=False):
            raise Conflict("a turn is starting; compact when it is idle")
        harness.set_state(TurnState.COMPACTING)
        gevent.spawn(self._compact_and_release)
        return "started"

    def _compact_and_release(self):
        try:
            self.compact_session()
        finally:
            self.harness.set_state(TurnState.IDLE)
            self.session_lock.release()

    def tidy_notes(self):
        """Between turns: once notes.md has outgrown its limit, have it rewritten."""
        harness = self.harness
        if harness.stopping.is_set():
            return
        with self.session_lock:
            if not harness.notes.due():
                return
            try:
                self._compact_notes()
            except Exception as exc:   # housekeeping must never end the serve loop
                log.exception("notes compaction failed")
                harness.bus.emit("note", text=f"notes compaction failed: {exc}", level="warn")

    def _compact_notes(self):
        harness = self.harness
        before, limit, path = notes.size(harness.notes.path), harness.notes.limit, \
            harness.notes.path
        harness.notes.tried_at = before
        harness.set_state(TurnState.COMPACTING)
        try:
            harness.bus.emit("note", text=notes.started_text(before, limit), level="info")
            notes.backup(path)
            result = self._run_notes_claude(notes.compaction_prompt(path, before, limit))
        finally:
            harness.set_state(TurnState.IDLE)
        after = notes.size(path)
        harness.notes.tried_at = after or 0
        failure = result.note if result.outcome != "ok" else None
        ok, text = notes.ended(before, after, limit, failure)
        harness.bus.emit("note", text=text, level="info" if ok else "warn")
        journal.event(log, "notes_compacted", text, level=logging.INFO if ok else logging.WARNING,
                      HIVE_OUTCOME="ok" if ok else "failed", HIVE_BEFORE_BYTES=before,
                      HIVE_AFTER_BYTES=after or 0)

    def _run_notes_claude(self, prompt):
        # Its own fresh session: the agent's session id and file stay the turn's.
        harness, setup = self.harness, self.harness.setup
        argv = notes.compaction_argv(harness.claude_bin, harness.model, str(harness.hive_dir),
                                     setup.allowed_rules(notes.TOOLS))
        return self._run(claude.ClaudeTurn(
            setup.as_claude(argv), prompt, cwd=str(harness.state_dir), env=setup.claude_env(),
            on_event=self._on_stream, on_stderr=self._on_stderr, require_hyperhive=False))

    # -- what claude says ----------------------------------------------------------------

    def _on_stream(self, event):
        summary = summarise(event)
        if summary is not None:
            self.harness.bus.emit("stream", **summary)

    def _on_stderr(self, line):
        self.harness.bus.emit("note", text=line, level="stderr")
        log.warning("claude: %s", line)

    # -- the turn's record ---------------------------------------------------------------

    def finish(self, message, result, started, inbox_depth=None):
        """End the turn for everyone watching first, then write its statistics.

        `inbox_depth` is the recv reply's `unread`: what was still waiting when the
        turn began, besides its own message.
        """
        harness = self.harness
        ended = time.time()
        usage = result.usage or {}
        cost = self._turn_cost(result)
        self.usage = {"ctx": result.ctx_tokens, "input": usage.get("input_tokens", 0),
                      "output": usage.get("output_tokens", 0),
                      "cache_read": usage.get("cache_read_input_tokens", 0),
                      "cache_write": usage.get("cache_creation_input_tokens", 0),
                      "cost_usd": cost}
        harness.bus.emit("token_usage_changed", **self.usage)
        self.last_turn = {"at": ended, "duration_ms": result.duration_ms,
                          "outcome": result.outcome}
        harness.bus.emit("turn_end", outcome=result.outcome, duration_ms=result.duration_ms,
                         note=result.note or "")
        journal.event(log, "turn_end", f"turn {result.outcome} in {result.duration_ms} ms",
                      level=logging.INFO if result.outcome == "ok" else logging.WARNING,
                      HIVE_OUTCOME=result.outcome, HIVE_DURATION_MS=result.duration_ms,
                      HIVE_INPUT_TOKENS=usage.get("input_tokens", 0),
                      HIVE_OUTPUT_TOKENS=usage.get("output_tokens", 0),
                      HIVE_NOTE=result.note or "")
        harness.set_state(TurnState.IDLE)
        # The host adds the cost to the agent's spend today (its daily budget); past the
        # bound the host would refuse the whole report.
        harness.link.report(last_turn_at=ended, turn_cost_usd=min(cost, MAX_TURN_COST_USD))
        threads = harness.link.call("status") or {}
        row_id = harness.stats.record(
            started_at=started, ended_at=ended, duration_ms=result.duration_ms,
            model=harness.model, wake_from=message["from"], result_kind=result.outcome,
            note=result.note or None, tool_calls=result.tool_calls,
            tool_call_count=sum(result.tool_calls.values()),
            open_threads_count=threads.get("open_threads"),
            open_reminders_count=threads.get("pending_reminders"),
            session_id=result.session_id, session_cost_usd=result.total_cost_usd,
            inbox_depth=inbox_depth, messages_taken=len(self.inflight), sends=result.sends,
            notes_bytes=notes.size(harness.notes.path),
            cost_usd=cost, **{k: usage.get(k, 0) or 0 for k in (
                "input_tokens", "output_tokens", "cache_read_input_tokens",
                "cache_creation_input_tokens")})
        # The turn's row is in the stats file now: the stats page may read it.
        harness.bus.emit("turn_stats", id=row_id, outcome=result.outcome)

    def _turn_cost(self, result):
        total = result.total_cost_usd
        if total is None:
            return 0.0
        stats = self.harness.stats
        before = stats.last_session_cost(result.session_id) if result.session_id else None
        return round(max(0.0, total - (before or 0.0)), 6)
