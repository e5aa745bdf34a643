"""Every verb, declared once: its fields, the sockets that offer it, and its forms.

One `Verb` entry says what a `cmd` takes (the field specs of fields.py), which host
sockets offer it and with which handler (`on`: admin, agent, manager), whether the
harness forwards it from mcp.sock to the host, its MCP tool and its `ctl` forms. From
this table come the sockets' dispatch tables, the harness's forward sets, the MCP
server's tools and ctl's subcommands. Where one cmd means different things on
different sockets (`send` is the operator's on admin; `status` is the manager's own
plus every row), its entry has one handler per socket.

A handler names a broker method as a string, resolved on the broker at call time:
this module, like the field specs and the reply texts, uses the standard library
alone, so `hyperhive mcp` can load it without the host's dependencies. `dispatch()`
checks a request against the fields and passes the caller's identity (taken from
the socket, never from the request) to the broker, which checks what values mean.
"""

import re

from . import handlers, printouts
from . import replies as say
from .bounds import (
    MAX_ANSWER,
    MAX_BATCH,
    MAX_BODY,
    MAX_BUDGET_USD,
    MAX_CONFIG_ERROR,
    MAX_DESCRIPTION,
    MAX_DETAIL,
    MAX_DETAIL_ITEMS,
    MAX_DETAIL_KEYS,
    MAX_FAIL_NOTE,
    MAX_HISTORY,
    MAX_LOG_BYTES,
    MAX_LOG_LINES,
    MAX_OPTION,
    MAX_OPTIONS,
    MAX_QUESTION,
    MAX_RATE_LIMIT_REST,
    MAX_REMINDER_PATH,
    MAX_SEARCH_QUERY,
    MAX_SEARCH_RESULTS,
    MAX_STATUS_TEXT,
    MAX_STDERR_TAIL,
    MAX_TURN_ATTEMPTS,
    MAX_TURN_COST_USD,
    MAX_WAIT,
    RATE_LIMIT_CLOCK_SLACK,
)
from .errors import BadArgs, UnknownCmd
from .fields import (
    BOOL,
    IDS,
    INT,
    NUM,
    SHORT,
    TIME,
    Ahead,
    Detail,
    ListOf,
    Matches,
    Num,
    OneOf,
    Text,
)
from .handlers import Call
from .states import FAIL_OUTCOMES, MODEL_RE, STATUSES, TurnState
from .verbforms import Arg, Ctl, Offer, Tool, Verb, on

AGENT, MANAGER, ADMIN = "agent", "manager", "admin"
ROLES = (AGENT, MANAGER, ADMIN)
# No handler: the server answers these before any table (`hello`, `subscribe`).
SERVER = None


# The table ###################################################################

_SHORT_NAME = {"name": SHORT}
_DESCRIPTION = {"description": Text(MAX_DESCRIPTION)}
_ID = {"id": INT}
_AGENTS = (AGENT, MANAGER)          # the manager's socket offers all an agent's does
_NOT_A_TOOL = ("SPEC §5 gives claude no tool for it; the harness socket still answers it "
               "for the agent's own scripts")


def _lifecycle(cmd, method, doc, past, description, ctl_help):
    """start, stop, restart, rebuild: the operator's on any agent, the manager's on others."""
    return Verb(cmd, doc, on(method, ADMIN, manager=handlers.refusing_self(method)),
                _SHORT_NAME, forward=True, ctl=(Ctl(ctl_help),),
                tool=Tool(description, {"name": Arg("the agent's name")}, say.format_done(past)))


VERBS = (
    Verb("hello", "the socket's role, the caller's name and the cmds it takes",
         on(SERVER, *ROLES), local=True, ctl=(Ctl("what the socket offers"),)),
    Verb("send", "send a message; `to` is an agent, 'manager', 'operator' or '*' (on the "
         "admin socket, from the operator)",
         on("messages.send", *_AGENTS, admin=handlers.as_operator),
         {"to": SHORT, "body": Text(MAX_BODY)}, {"in_reply_to": INT}, forward=True,
         tool=Tool(
             "Send a message to another participant. `to` is an agent's name, `manager` (the "
             "agent that coordinates the others), `operator` (the human at the dashboard) or "
             "`*` (every other agent; use sparingly). Use it to report results, hand work on, "
             "or reply: pass `in_reply_to` with the message number you are answering so the "
             "thread stays readable. Returns the new message's number. If your configuration "
             "does not allow the recipient, the result says so; ask the manager to relay "
             "instead.",
             {"to": Arg("agent name, 'manager', 'operator' or '*'"),
              "body": Arg("the message text"),
              "in_reply_to": Arg("number of the message this answers, if any")},
             say.format_sent),
         ctl=(Ctl("send a message as the operator", stdin="body",
                  flags={"body": {"help": "message text, or - to read stdin"},
                         "in_reply_to": {"flag": "--reply-to"}}),)),
    Verb("recv", "take waiting messages; wait up to wait_seconds (max 180) for one",
         on("messages.recv", *_AGENTS), optional={"wait_seconds": NUM, "max": INT}, forward=True,
         tool=Tool(
             "Take messages from your inbox. Without `wait_seconds` (or with 0) it looks and "
             "returns at once, with the waiting messages or '(no messages)'. With a positive "
             f"`wait_seconds` it waits up to that long (at most {MAX_WAIT}) and returns as "
             "soon as a message arrives. When you have nothing else useful to do this turn, a "
             f"long wait (wait_seconds: {MAX_WAIT}) is the way to idle: incoming messages "
             "wake you instantly, which is strictly better than a shell `sleep`. Messages "
             "from `system` are hive events with a JSON body. A message marked as redelivered "
             "may already have been handled before a restart: check before acting twice.",
             {"wait_seconds": Arg("0 or absent: look and return at once; positive: wait up "
                                  f"to this many seconds (max {MAX_WAIT}) for a message", ge=0),
              "max": Arg(f"how many messages to take at most (1 to {MAX_BATCH}, default 1)",
                         ge=1, le=MAX_BATCH)},
             say.format_recv, parks=True)),
    Verb("nap", "take no new message until `seconds` have passed (the harness's own)", {},
         {"seconds": NUM}, local=True,
         tool=Tool(
             "Sleep for a while: after this turn ends you take no new messages until "
             "`seconds` have passed (or the operator cancels the nap). Messages keep queueing "
             "in your inbox meanwhile and the first one wakes you after the deadline. Use it "
             "when you know nothing useful can happen for a while (waiting on a long build, a "
             "rate limit, a scheduled time); for short waits that a message should cut short, "
             "use recv with wait_seconds instead. Finish your turn after calling it.",
             {"seconds": Arg("how long to nap, in seconds", gt=0)}, say.format_nap)),
    Verb("ask", "ask the operator (or an agent) a question; the answer comes later",
         on("questions.ask", *_AGENTS), {"question": Text(MAX_QUESTION)},
         # 4 bytes is the most one character takes in UTF-8.
         {"options": ListOf(Text(4 * MAX_OPTION), MAX_OPTIONS), "multi": BOOL,
          "ttl_seconds": NUM, "to": SHORT}, forward=True,
         tool=Tool(
             "Ask the operator (default) or another agent (`to`) a question. It does not "
             "block: you get the question number at once, and the answer arrives later in "
             "your inbox as a system message (event question_answered). Do not wait for it "
             "inline; carry on or end your turn. `options` are suggested answers (the "
             "operator can still type their own), `multi` allows choosing several, "
             "`ttl_seconds` makes the question expire with the answer '[expired]'.",
             {"question": Arg("the question, self-contained"),
              "options": Arg("suggested answers, if the choice is between a few"),
              "multi": Arg("true if several options may be chosen together"),
              "ttl_seconds": Arg("expire the question after this many seconds", gt=0),
              "to": Arg("an agent's name to ask instead of the operator")},
             say.format_question)),
    Verb("answer", "answer a question asked of me (the operator: any question)",
         on("questions.answer", *ROLES), {"id": INT, "answer": Text(MAX_ANSWER)}, forward=True,
         tool=Tool(
             "Answer a question another agent asked you (it reached you as a system message "
             "with event question_asked and a question id). Only the agent asked may answer.",
             {"id": Arg("the question's id"), "answer": Arg("your answer")},
             say.format_answered),
         ctl=(Ctl("answer a question"),)),
    Verb("remind", "schedule a message to myself", on("reminders.remind", *_AGENTS),
         {"message": Text(MAX_BODY)},
         {"delay_seconds": NUM, "at": NUM, "file_path": Text(MAX_REMINDER_PATH)}, forward=True,
         tool=Tool(
             "Schedule a message to yourself: it lands in your inbox (from `reminder`) when "
             "due and wakes you like any message. Give exactly one of `delay_seconds` or `at` "
             "(unix seconds). Use it to come back to something later instead of waiting now. "
             "A message over 4096 bytes needs `file_path` (under /state): the text is written "
             "there and the reminder points at the file.",
             {"message": Arg("what to tell your future self"),
              "delay_seconds": Arg("deliver after this many seconds", ge=0),
              "at": Arg("deliver at this time, in unix seconds"),
              "file_path": Arg("for long texts: a path under /state to write the message to")},
             say.format_reminder)),
    Verb("reminders", "pending reminders: my own (the operator: every agent's, or `agent`'s)",
         on("reminders.pending", *_AGENTS, ADMIN), optional={"agent": SHORT}, forward=True,
         tool=Tool(
             "List your pending reminders (set with `remind`, not delivered yet): each one's "
             "number, when it is due and its message. Use it before setting a reminder you "
             "may already have, or to find the number to pass to cancel_reminder.",
             {"agent": Arg("leave it out: your own reminders are the ones you can list")},
             say.format_reminders),
         ctl=(Ctl("pending reminders, every agent's or NAME's", render=printouts.reminders,
                  flags={"agent": {"flag": "name"}}),)),
    Verb("cancel_reminder", "cancel a pending reminder of mine (the operator: anyone's)",
         on("reminders.cancel", *_AGENTS, ADMIN), _ID, forward=True,
         tool=Tool(
             "Cancel one of your pending reminders so it is never delivered, e.g. when what "
             "it was to remind you of is done. Pass the number `remind` or `reminders` gave.",
             {"id": Arg("the reminder's number")}, say.format_reminder_cancelled),
         ctl=(Ctl("cancel a pending reminder"),)),
    Verb("set_status", "free text shown on the dashboard", on("agents.set_status", *_AGENTS),
         {"text": Text(MAX_STATUS_TEXT)}, forward=True,
         tool=Tool(
             "Set the one-line status shown next to your name on the operator's dashboard, "
             "e.g. what you are working on or waiting for. An empty text clears it. Keep it "
             "current when your focus changes; it is not a message and wakes no one.",
             {"text": Arg("a short status line, or '' to clear")}, say.format_status_set)),
    Verb("open_threads", "approvals and questions involving me", on("messages.open_threads", *_AGENTS),
         forward=True,
         tool=Tool(
             "List your loose ends: pending approvals and unanswered questions that involve "
             "you (as asker or as the one asked). Check it before starting something that may "
             "already be waiting on an answer.", reply=say.format_threads)),
    Verb("whoami", "my name and role (the harness's own)", {}, local=True,
         tool=Tool(
             "Say who you are in the hive: your agent name and role. Use it when you need "
             "your own name, e.g. to tell others how to reach you.", reply=say.format_whoami)),
    Verb("status", "an agent: unread, pending reminders, open threads; the manager: also "
         "every agent's row; the operator: a row per agent",
         on("messages.status", AGENT, manager=handlers.manager_status, admin=handlers.STATUS_ROWS),
         forward=True, no_tool=_NOT_A_TOOL,
         ctl=(Ctl("a row per agent", render=printouts.status_table),)),
    Verb("recent", "the last messages to me, read or not", on("messages.recent", *_AGENTS),
         optional={"limit": INT}, forward=True, no_tool=_NOT_A_TOOL),
    Verb("wake", "put a message into my own inbox, from wake:<label>",
         on(handlers.wake, *_AGENTS),
         {"from": SHORT, "body": Text(MAX_BODY)}, forward=True,
         no_tool="`hyperhive wake` sends it from the agent's scripts, not claude"),
    Verb("ack", "mark received messages handled", on("messages.ack", *_AGENTS), {"ids": IDS}),
    Verb("requeue", "make delivered-but-unacked messages deliverable again",
         on("messages.requeue", *_AGENTS)),
    Verb("undeliver", "put back messages a reply never brought to their reader",
         on(handlers.undeliver, *_AGENTS), {"ids": IDS}),
    Verb("report", "the harness reports its live state", on("report", *_AGENTS), optional={
        "turn_state": OneOf(tuple(s.value for s in TurnState)),
        "turn_state_since": TIME, "turn_state_until": TIME, "last_turn_at": TIME,
        "model": Matches(MODEL_RE, "a model name like haiku, sonnet or a full model id"),
        "needs_login": BOOL, "status": OneOf(STATUSES),
        "port": Num(1, 65535, integer=True, what="a port number, 1 to 65535"),
        "config_sha": Matches(re.compile(r"[0-9a-f]{40}"), "a commit's 40-hex sha"),
        "config_error": Text(MAX_CONFIG_ERROR),
        "rate_limited_until": Ahead(MAX_RATE_LIMIT_REST + RATE_LIMIT_CLOCK_SLACK,
                                    "a unix time at most a day ahead"),
        "turn_cost_usd": Num(0, MAX_TURN_COST_USD,
                             what=f"a turn's cost in dollars, 0 to {MAX_TURN_COST_USD:g}")}),
    Verb("notify_manager", "tell the manager about a failure of mine (a system message)",
         on("messages.notify_manager", *_AGENTS), {"event": SHORT},
         {"detail": Detail(MAX_DETAIL_KEYS, MAX_DETAIL_ITEMS, MAX_DETAIL)}),
    Verb("request_spawn", "ask the operator to approve a new agent (the operator: queue one)",
         on("operations.request_spawn", MANAGER, ADMIN), _SHORT_NAME, _DESCRIPTION, forward=True,
         tool=Tool(
             "Ask the operator to approve a new agent. Names are 1 to 9 characters: a "
             "lowercase letter, then lowercase letters, digits or '-'. Returns the approval "
             "number at once; the outcome arrives later as an approval_resolved system "
             "message (and spawned when it is running).",
             {"name": Arg("the new agent's name"),
              "description": Arg("what the agent is for, shown to the operator")},
             say.format_spawn_request),
         ctl=(Ctl("queue a spawn for approval"),)),
    Verb("request_apply_commit", "ask the operator to approve a config commit",
         on("operations.request_apply_commit", MANAGER), {"agent": SHORT, "commit_ref": SHORT},
         _DESCRIPTION, forward=True,
         tool=Tool(
             "Submit a commit in an agent's proposed config repo for the operator's approval. "
             "Commit the change first, then pass the agent and the commit (sha or ref). On "
             "approval the host applies it and rebuilds the agent; either way you get an "
             "approval_resolved system message.",
             {"agent": Arg("the agent whose config changes"),
              "commit_ref": Arg("commit sha or ref in its config repo"),
              "description": Arg("why, shown to the operator next to the diff")},
             say.format_commit_request)),
    Verb("request_spawn_draft", "create a future agent's config repo and state dir to edit",
         on("operations.request_spawn_draft", MANAGER), _SHORT_NAME, _DESCRIPTION, forward=True,
         tool=Tool(
             "Start a new agent in two steps, when it needs more than the default config: "
             "this creates its config repo and state dir now, with no container and no "
             "approval yet. Edit and commit its agent.json (and seed /state notes), then "
             "submit the commit with request_spawn_commit; the operator sees the diff and "
             "approves the first boot. For an agent that needs nothing special, request_spawn "
             "is enough.",
             {"name": Arg("the new agent's name (1-9 chars, a-z 0-9 -)"),
              "description": Arg("what the agent is for, shown to the operator")},
             say.format_draft)),
    Verb("request_spawn_commit", "ask the operator to boot a draft from one of its commits",
         on("operations.request_spawn_commit", MANAGER), {"name": SHORT, "commit_ref": SHORT},
         _DESCRIPTION, forward=True,
         tool=Tool(
             "Ask the operator to boot a draft agent from a commit of its config repo (see "
             "request_spawn_draft). Returns the approval number at once; the outcome arrives "
             "as an approval_resolved system message, then spawned when it runs.",
             {"name": Arg("the draft's name"),
              "commit_ref": Arg("commit sha or ref in its config repo"),
              "description": Arg("what changed from the defaults and why, shown with the "
                                 "diff")},
             say.format_spawn_request)),
    Verb("drafts", "drafts waiting for their first boot",
         on(Call("operations.drafts", caller=False), MANAGER, ADMIN), forward=True,
         tool=Tool("List the drafts (agents created with request_spawn_draft that have not "
                   "booted yet) and the commit each config is at.", reply=say.format_drafts),
         ctl=(Ctl("agents drafted but not booted yet", render=printouts.drafts),)),
    Verb("discard_draft", "delete a draft", on("operations.discard_draft", MANAGER, ADMIN), _SHORT_NAME,
         forward=True,
         tool=Tool("Delete a draft you no longer need: its config repo and state dir go. Not "
                   "possible while its spawn waits for approval.",
                   {"name": Arg("the agent's name")}, say.format_discarded),
         ctl=(Ctl("delete a draft"),)),
    _lifecycle("start", "operations.start", "start an agent", "started",
               "Start a stopped agent. No approval needed; not on yourself.",
               "start an agent"),
    _lifecycle("stop", "operations.stop", "stop an agent", "stopped",
               "Stop a running agent; its messages keep queueing. No approval needed; not on "
               "yourself.", "stop an agent"),
    _lifecycle("restart", "operations.restart", "restart an agent", "restarted",
               "Restart an agent, e.g. when it is stuck. No approval needed; not on yourself.",
               "restart an agent"),
    _lifecycle("rebuild", "operations.rebuild", "re-apply an agent's config and restart it",
               "rebuilt and restarted", "Re-apply an agent's current config and restart it. "
               "No approval needed; not on yourself.", "rebuild an agent"),
    Verb("list", "agent names", on(handlers.AGENT_NAMES, MANAGER, ADMIN), forward=True,
         tool=Tool("List the names of every agent in the hive, yourself included.",
                   reply=say.format_agents),
         ctl=(Ctl("agent names", render=printouts.agent_list),)),
    Verb("get_logs", "the last `lines` (default 100, max 500) records an agent's side wrote to "
         "its journal, as text, the newest 64 KiB", on("reads.get_logs", MANAGER), _SHORT_NAME,
         {"lines": Num(1, MAX_LOG_LINES, integer=True,
                       what=f"a number of lines, 1 to {MAX_LOG_LINES}")}, forward=True,
         tool=Tool(
             "Read the end of an agent's journal: what its harness, claude runs and tools "
             "logged, oldest first. Use it to find out why an agent is failing (crashes, "
             "config errors, login trouble) before restarting or rebuilding it. Any agent, "
             f"yourself included. At most {MAX_LOG_LINES} records and "
             f"{MAX_LOG_BYTES // 1024} KiB; when more would not fit, the oldest lines go "
             "and the result says so.",
             {"name": Arg("the agent's name"),
              "lines": Arg(f"how many records, 1 to {MAX_LOG_LINES} (default 100)",
                           ge=1, le=MAX_LOG_LINES)},
             say.format_logs)),
    Verb("status_all", "status rows of every agent", on(handlers.STATUS_ROWS, MANAGER)),
    Verb("spawn", "create and start an agent, no approval", on("operations.spawn", ADMIN), _SHORT_NAME,
         {"host": SHORT},
         ctl=(Ctl("spawn an agent", flags={"host": {"help": "on this host of the hive "
                                                    "(default: the one asked)"}}),)),
    Verb("destroy", "remove an agent; its state is kept unless purge",
         on("operations.destroy", ADMIN), _SHORT_NAME, {"purge": BOOL},
         ctl=(Ctl("remove an agent (state is kept)",
                  flags={"purge": {"help": "delete its state too"}}),)),
    Verb("purge", "delete the kept state of a destroyed agent", on("operations.purge", ADMIN),
         _SHORT_NAME, ctl=(Ctl("purge an agent"),)),
    Verb("move", "re-home a stopped agent on another host of the hive (its dirs go along)",
         on("moves.move", ADMIN), {"name": SHORT, "host": SHORT},
         ctl=(Ctl("move a stopped agent to another host", render=printouts.moved),)),
    Verb("set_paused", "pause or resume an agent",
         on(Call("agents.set_paused", caller=False), ADMIN),
         {"name": SHORT, "paused": BOOL},
         ctl=(Ctl("pause an agent", name="pause", sets={"paused": True}),
              Ctl("resume an agent", name="resume", sets={"paused": False}))),
    Verb("pending", "pending approvals", on(Call("approvals.pending", caller=False), ADMIN),
         ctl=(Ctl("approvals waiting for you", render=printouts.pending),)),
    Verb("approve", "approve and apply; a diff longer than pages show needs its sha256",
         on("operations.approve", ADMIN), _ID, {"diff_sha256": SHORT},
         ctl=(Ctl("approve and apply", flags={"diff_sha256": {
             "help": "the sha256 `ctl diff ID` printed: needed when the diff is longer than "
                     "pages show"}}),)),
    Verb("approval_diff", "the whole diff of an approval, and its sha256",
         on("approvals.diff", ADMIN), _ID,
         ctl=(Ctl("the whole diff of an approval, and how to approve it", name="diff",
                  render=printouts.diff),)),
    Verb("deny", "deny, with an optional note", on("operations.deny", ADMIN), _ID,
         {"note": Text(MAX_DESCRIPTION)}, ctl=(Ctl("deny an approval"),)),
    Verb("inbox", "messages to the operator", on(Call("messages.inbox", caller=False), ADMIN),
         optional={"limit": INT},
         ctl=(Ctl("messages to the operator", flags={"limit": {"default": 20}},
                  render=printouts.inbox),)),
    Verb("questions", "open questions", on(Call("questions.open", caller=False), ADMIN),
         ctl=(Ctl("open questions", render=printouts.questions),)),
    Verb("cancel_question", "cancel a question", on("questions.cancel", ADMIN), _ID,
         ctl=(Ctl("cancel a question"),)),
    Verb("subscribe", "stream dashboard events, one JSON line each (the server checks "
         "`kinds` itself)", on(SERVER, ADMIN), optional={"kinds": ListOf(SHORT, 64)},
         ctl=(Ctl("print dashboard events as they happen",
                  flags={"kinds": {"help": "comma-separated event kinds"}}, run="stream"),)),
    Verb("logs", "where an agent's journal is: {machine, directory, matches} for journalctl",
         on("reads.journal_query", ADMIN), _SHORT_NAME,
         ctl=(Ctl("an agent's journal, through journalctl", run="journalctl"),)),
    # Not on the manager's socket: the manager's own clone already reads the applied
    # history through its `applied` remote, and a verb there would be one more way for
    # an agent-run process to read every other agent's config.
    Verb("config", "an agent's applied agent.json and its config repo's history, newest "
         "first with each commit's tags", on("reads.config_view", ADMIN), _SHORT_NAME,
         {"limit": Num(1, MAX_HISTORY, integer=True, what=f"a count from 1 to {MAX_HISTORY}")},
         ctl=(Ctl("an agent's agent.json and config history", render=printouts.config_view,
                  flags={"limit": {"help": f"commits to show (default 20, at most "
                                           f"{MAX_HISTORY})"}}),)),
    Verb("login_url", "a one-time link that logs a browser in as the operator",
         on(Call("sessions.login_url", caller=False), ADMIN),
         ctl=(Ctl("a one-time link that logs a browser in", render=printouts.login_url),)),
    # The failed list (failedturns.py): the harness hands over a message whose turns kept
    # failing; the operator retries or discards it.
    Verb("fail_message", "give up on a message whose turns kept failing: it is acked, "
         "listed as failed and the manager told (the harness's own)",
         on("failed.fail_message", *_AGENTS), {"id": INT, "outcome": OneOf(FAIL_OUTCOMES)},
         {"note": Text(MAX_FAIL_NOTE), "stderr_tail": Text(MAX_STDERR_TAIL),
          "attempts": Num(1, MAX_TURN_ATTEMPTS, integer=True,
                          what=f"a count from 1 to {MAX_TURN_ATTEMPTS}")}),
    Verb("failed", "messages whose turns kept failing, newest first: my own (the operator: "
         "every agent's, or `agent`'s)",
         on("failed.listing", *_AGENTS, ADMIN), optional={"agent": SHORT},
         ctl=(Ctl("failed turns, every agent's or NAME's", render=printouts.failed,
                  flags={"agent": {"flag": "name"}}),)),
    Verb("retry_failed", "put a failed message back into its agent's inbox, deliverable",
         on(Call("failed.retry", caller=False), ADMIN), _ID,
         ctl=(Ctl("put a failed message back into its agent's inbox", name="retry"),)),
    Verb("discard_failed", "take a message off the failed list; it stays handled",
         on(Call("failed.discard", caller=False), ADMIN), _ID,
         ctl=(Ctl("take a message off the failed list", name="discard"),)),
    # Daily budgets. Only the operator's: an agent's own spend reaches the host in its
    # harness's `report`, and nothing an agent's socket takes raises a budget.
    Verb("budget", "every agent's spend today against its daily budget; with `name`, that "
         "agent's, after raising its budget for today by `raise_usd` or lifting it for "
         "today (`lift`)", on(Call("budgets.manage", caller=False), ADMIN),
         optional={"name": SHORT,
                   "raise_usd": Num(0.01, MAX_BUDGET_USD,
                                    what=f"dollars, 0.01 to {MAX_BUDGET_USD:g}"),
                   "lift": BOOL},
         ctl=(Ctl("spend today against budget; raise or lift an agent's for today",
                  render=printouts.budgets,
                  flags={"name": {"flag": "name", "help": "one agent (leave it out: all)"},
                         "raise_usd": {"flag": "--raise", "metavar": "USD",
                                       "help": "add this many dollars to NAME's budget "
                                               "for today"},
                         "lift": {"help": "no budget for NAME for the rest of today"}}),)),
    Verb("search", "full-text search of messages, questions and answers: every one (the "
         "operator's, or what `agent` sent or received), or what the caller sent or received",
         on("searches.search", *_AGENTS, ADMIN), {"query": Text(MAX_SEARCH_QUERY)},
         {"limit": Num(1, MAX_SEARCH_RESULTS, integer=True,
                       what=f"a count from 1 to {MAX_SEARCH_RESULTS}"),
          "agent": SHORT, "order": OneOf(("newest", "best"))}, forward=True,
         tool=Tool(
             "Search the messages you sent or received and the questions you asked or were "
             "asked (with their answers) for words: every word must be in a hit. Each hit "
             "gives its kind and number, who sent it to whom, when, and a snippet with the "
             "words in [[double brackets]]. Use it to find what was said earlier instead of "
             "asking again.",
             {"query": Arg("plain words to look for; punctuation and quotes only separate "
                           "words"),
              "limit": Arg("hits to return (default 20)", ge=1, le=MAX_SEARCH_RESULTS),
              "agent": Arg("leave it out: you can search only your own messages"),
              "order": Arg("'newest' first (the default) or 'best' match first")},
             say.format_search),
         ctl=(Ctl("search messages, questions and answers for words",
                  render=printouts.search,
                  flags={"agent": {"help": "only what this agent sent or received"},
                         "limit": {"help": f"hits to show (default 20, at most "
                                           f"{MAX_SEARCH_RESULTS})"},
                         "order": {"help": "newest (the default) or best"}}),)),
)
BY_CMD = {verb.cmd: verb for verb in VERBS}


# What the table gives the sockets, the harness, the MCP server and ctl ########

def _socket_table(role):
    return {v.cmd: Offer(v, Call(v.on[role]) if isinstance(v.on[role], str) else v.on[role])
            for v in VERBS if role in v.on and v.on[role] is not SERVER}


TABLES = {role: _socket_table(role) for role in ROLES}


def table(role):
    """cmd -> Offer for the verbs the host's `role` socket dispatches."""
    return TABLES[role]


def offered(role):
    """Every cmd a host socket takes, `hello` and `subscribe` included."""
    return sorted(v.cmd for v in VERBS if role in v.on)


def forwarded(role):
    """The cmds an agent's (or the manager's) harness passes from mcp.sock to the host."""
    return tuple(v.cmd for v in VERBS if v.forward and role in v.on)


def tools(role):
    """The verbs with an MCP tool for an agent or the manager, in the order claude lists them."""
    return [v for v in VERBS if v.tool and (v.local or role in v.on)]


def ctl_forms():
    """(subcommand, verb, form) for every ctl subcommand, in the order its help lists them."""
    return [(verb.ctl_name(form), verb, form) for verb in VERBS for form in verb.ctl]


def dispatch(verbs, broker, caller, request):
    cmd = request.get("cmd")
    if not isinstance(cmd, str):
        raise BadArgs("a request needs a string `cmd` field")
    verb = verbs.get(cmd)
    if verb is None:
        raise UnknownCmd(f"unknown cmd {cmd[:40]!r}; try `hello` for the list")
    return verb.call(broker, caller, request)
