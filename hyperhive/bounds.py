"""Bounds on what a caller sends (SPEC §12: every value an agent sends is bounded).

The verb table (verbs.py) carries the byte and count bounds to the wire; the broker
checks meaning (empty, characters, ranges). They live here, apart from both, because
the table and the MCP tool texts must load with the standard library alone.
"""

MAX_WAIT = 180                     # seconds a `recv` may park
MAX_BATCH = 32                     # messages one `recv` takes at most
MAX_IDS = 1000                     # message ids in one ack / undeliver
MAX_BODY = 256 * 1024              # bytes of a message
MAX_REMINDER_TEXT = 4096           # bytes of a reminder without a file_path
MAX_QUESTION = 16384               # bytes of a question
MAX_OPTIONS = 32                   # options of one question...
MAX_OPTION = 200                   # ...of at most this many characters each
MAX_ANSWER = 65536                 # bytes of an answer
MAX_STATUS_TEXT = 2000             # bytes of set_status text
MAX_CONFIG_ERROR = 2000            # bytes of why a harness refused its config (report)
MAX_DESCRIPTION = 8192             # bytes of an approval's description or a deny note
MAX_WAKE_LABEL = 64                # characters of a wake label
MAX_DETAIL_KEYS = 16               # notify_manager detail: keys, items of a list value
MAX_DETAIL_ITEMS = 32              # (the harness sends stderr's last 20 lines)...
MAX_DETAIL = 32 * 1024             # ...and bytes of it all as JSON
MAX_SHORT = 256                    # bytes of any other string: names, refs, events, enums
MAX_TTL = 6 * 3600                 # seconds a question may live
MAX_DELAY = 366 * 24 * 3600        # seconds ahead a reminder may be due
MAX_REMINDER_PATH = 1024           # bytes of a reminder's file_path
MAX_RATE_LIMIT_REST = 24 * 3600    # seconds a rate-limited agent rests at most...
RATE_LIMIT_CLOCK_SLACK = 300       # ...and how far past that a reported end may lie
MAX_FAIL_NOTE = 4096               # bytes of a failed turn's note (fail_message)...
MAX_STDERR_TAIL = 4096             # ...and of the end of claude's stderr it keeps
MAX_TURN_ATTEMPTS = 20             # turns one message may be given (the setting's bound too)
MAX_FAILED_LISTED = 200            # failed turns one `failed` reply lists, newest first
MAX_HISTORY = 200                  # commits of a config repo's history in one reply
# Daily budgets: a turn's cost as its harness reports it, and a budget or a raise, in USD.
MAX_TURN_COST_USD = 1000.0
MAX_BUDGET_USD = 1_000_000.0
# Resources one agent may hold at once; at the bound the verb answers `conflict`.
MAX_OPEN_QUESTIONS = 20            # questions it asked that are not answered
MAX_PENDING_REMINDERS = 100
MAX_PENDING_APPROVALS = 20         # approvals waiting for the operator (the manager's)
MAX_DRAFTS = 20                    # drafts the manager prepares that have not booted

# get_logs: the manager's read of an agent's journal.
LOG_LINES = 100                    # records it returns when it names no count...
MAX_LOG_LINES = 500                # ...and at most
MAX_LOG_BYTES = 64 * 1024          # bytes of its text; older lines go first

# search: the full-text search of messages, questions and answers.
MAX_SEARCH_QUERY = 512             # bytes of a query...
MAX_SEARCH_WORDS = 16              # ...and the words looked for in it
SEARCH_RESULTS = 20                # results when the caller names no limit...
MAX_SEARCH_RESULTS = 100           # ...and at most
