"""Kept state: the dirs an agent leaves behind when destroyed without purge (and a
draft's), what they hold, their removal, and the marker files older hives kept there."""

import json
import logging
import os
import shutil

from . import names, repos, safefs
from .bounds import MAX_DESCRIPTION
from .errors import BadArgs, Conflict, HiveError
from .names import MANAGER

log = logging.getLogger(__name__)

KEPT_WALK_LIMIT = 20_000    # entries walked for a kept state's size; past it, a lower bound
# Marker files of hives from before the agent_dirs table; read once, then deleted.
OLD_MARKERS = ("port", "stopped", "draft")


def kept_names(registry):
    """Names whose dirs the host kept after a destroy (neither live nor drafts)."""
    return [r["name"] for r in registry.dirs()
            if not r["draft"] and not registry.exists(r["name"])]


def kept_info(places, name):
    """Size and age of kept state: lstat only (nothing opened, no link followed),
    and at most KEPT_WALK_LIMIT entries, so a tree an agent filled cannot stall us."""
    size, newest, seen = 0, 0.0, 0
    for root, dirs, files in os.walk(places.agent_dir(name)):
        for f in files[:max(0, KEPT_WALK_LIMIT - seen)]:
            try:
                st = os.lstat(os.path.join(root, f))
            except OSError:
                continue
            size += st.st_size
            newest = max(newest, st.st_mtime)
        seen += len(files) + len(dirs)
        if seen >= KEPT_WALK_LIMIT:
            break
    creds = places.claude_dir(name)
    return {"name": name, "size_bytes": size, "modified_at": newest or None,
            "has_credentials": (creds.is_dir() and not creds.is_symlink()
                                and any(creds.iterdir()))}


def draft_info(places, row, name, port):
    config = places.config_repo(name)
    sha = repos.head(config, as_user=repos.owner(config)) or ""
    return {"name": name, "description": row.get("description"),
            "created_at": row.get("created_at"), "by": row.get("created_by"),
            "config_sha": sha[:12] or None, "port": port}


def remove_dirs(places, registry, name):
    """Delete the dirs of a name the database says are kept state or a draft."""
    if name == MANAGER:
        raise BadArgs("the manager's state cannot be purged")
    if registry.exists(name) or not registry.dir(name):
        raise Conflict(f"{name!r} has no kept state or draft to remove")
    delete_dirs(places, name)
    registry.forget_dir(name)


def delete_dirs(places, name):
    # rmtree works through directory descriptors and never follows a link in the
    # tree (shutil.rmtree.avoids_symlink_attacks); a link at the top is left alone.
    shutil.rmtree(places.agent_dir(name), ignore_errors=True)
    shutil.rmtree(places.applied_repo(name), ignore_errors=True)
    shutil.rmtree(places.lib / "nixos" / names.check(name), ignore_errors=True)


def adopt_marker_files(places, registry, default_port):
    """On a hive from before the agent_dirs table (an empty table; the manager always
    has a row once the host has run): take each agent dir's old `port`, `stopped`
    and `draft` files into the database, read through safefs, and delete them."""
    if registry.dirs():
        return
    for name in sorted(set(places.names_on_disk()) | set(registry.here())):
        _adopt_markers(places, registry, name, default_port(name))


def _adopt_markers(places, registry, name, default_port):
    agents = places.lib / "agents"
    port, stopped, draft = (_old_marker(agents, name, m) for m in OLD_MARKERS)
    live = registry.exists(name)
    info = _json_object(draft) if draft is not None and not live else None
    fields = {"stopped": live and stopped is not None, "draft": info is not None}
    if info:
        fields.update(description=_short_text(info.get("description")),
                      created_by=_short_text(info.get("by")))
        if isinstance(info.get("created_at"), (int, float)):
            fields["created_at"] = info["created_at"]
    registry.record_dir(name, _port_number(port) or default_port, **fields)
    for marker in OLD_MARKERS:
        safefs.remove(agents, f"{name}/{marker}")
    log.info("took %s's marker files into the database", name, extra={"HIVE_AGENT": name})


def _old_marker(agents, name, marker):
    try:
        return safefs.read_text(agents, f"{name}/{marker}", limit=MAX_DESCRIPTION * 2)
    except (OSError, HiveError):
        return None         # a link, a FIFO, a directory: no marker the host wrote


def _json_object(text):
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _port_number(text):
    text = (text or "").strip()
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


def _short_text(value):
    return value[:MAX_DESCRIPTION] if isinstance(value, str) else None
