"""The manager's `get_logs`: the end of a live agent's journal as text.

It reads what the operator's journal panel reads, narrowed to the records an agent's own
side wrote (the host's records about the agent stay the operator's) and bounded in bytes
as well as records, so one reply never floods the manager's context. Any live agent may
be read, the manager itself included: those records are of its own side, and after a
restart they are how it learns why a turn failed.
"""

import gevent

from . import journal, names
from .bounds import MAX_LOG_BYTES
from .errors import NotFound


def read(agents, backend, owners, name, lines):
    """{name, text, cut}: the last `lines` records of `name`'s side, the newest
    MAX_LOG_BYTES of them; `cut` says older lines were left out."""
    names.check(name)
    if not agents.exists(name):
        raise NotFound(f"there is no agent named {name}")
    query = journal.agent_side(backend.journal_query(name),
                               backend.journal_uids(owners.ids(name)))
    # Off the hub, as the journal panel reads: Reader calls would stall every socket.
    records = gevent.get_hub().threadpool.apply(journal.read_journal, (query, lines))
    text, cut = journal.last_bytes(records, MAX_LOG_BYTES)
    return {"name": name, "text": text, "cut": cut}
