"""The store's rows of a hive of several hosts: their heartbeats, what each says of its
agents, the events other hosts wrote, and the notices (PostgreSQL's NOTIFY) that tell
them something changed."""

import json

_HOST_COLUMNS = ("name", "started_at", "seen_at", "pid", "root", "agents_json")


class HostRows:
    """Mixed into Store: its `_conn` is the shared connection."""

    def beat(self, name, now, started_at, pid, root, agents):
        """This host is alive at `now`, and runs `agents` (name -> status)."""
        self._conn.execute(
            "INSERT INTO hosts (name, started_at, seen_at, pid, root, agents_json) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "started_at = excluded.started_at, seen_at = excluded.seen_at, "
            "pid = excluded.pid, root = excluded.root, agents_json = excluded.agents_json",
            (name, started_at, now, pid, root, json.dumps(agents)))

    def hosts(self):
        rows = self._conn.execute(f"SELECT {', '.join(_HOST_COLUMNS)} FROM hosts "
                                  "ORDER BY name").fetchall()
        out = []
        for r in rows:
            row = dict(zip(_HOST_COLUMNS, r))
            row["agents"] = json.loads(row.pop("agents_json") or "{}")
            out.append(row)
        return out

    def set_home(self, agent, host):
        """Re-home `agent` (its registry row and its dirs' row); 1 when it exists."""
        self._conn.execute("UPDATE agent_dirs SET host = ? WHERE name = ?", (host, agent))
        return self._conn.execute("UPDATE agents SET host = ? WHERE name = ?",
                                  (host, agent)).rowcount

    def event_ids_from_others(self, after_id, host):
        """Ids of the events after `after_id` that another host wrote, oldest first: only
        the index is read, so a look back over events already seen stays cheap."""
        rows = self._conn.execute("SELECT id FROM events WHERE id > ? AND host IS DISTINCT "
                                  "FROM ? ORDER BY id", (after_id, host)).fetchall()
        return [r[0] for r in rows]

    def events_between(self, first, last, host):
        """The events `host` wrote with ids from `first` to `last`, oldest first."""
        rows = self._conn.execute(
            "SELECT id, at, kind, data FROM events WHERE id BETWEEN ? AND ? AND host = ? "
            "ORDER BY id", (first, last, host)).fetchall()
        return [{"seq": i, "kind": kind, "at": at, "data": json.loads(data)}
                for i, at, kind, data in rows]

    def events_by_ids(self, ids):
        """The events of `ids` (at most a few hundred), oldest first."""
        if not ids:
            return []
        rows = self._conn.execute(
            f"SELECT id, at, kind, data FROM events WHERE id IN ({', '.join('?' * len(ids))}) "
            "ORDER BY id", tuple(ids)).fetchall()
        return [{"seq": i, "kind": kind, "at": at, "data": json.loads(data)}
                for i, at, kind, data in rows]

    def announce(self, channel, payload=""):
        """PostgreSQL's NOTIFY: inside a transaction it is sent when that commits."""
        self._conn.execute("SELECT pg_notify(?, ?)", (channel, payload)).fetchall()
