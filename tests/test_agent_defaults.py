"""The operator's agent defaults (HYPERHIVE_AGENT_DEFAULTS): a new agent's first agent.json."""

import json
import shutil

import pytest

from hive import HostProcess, clean_env, short_tmpdir
from hyperhive import repos

DEFAULTS = {"model": "sonnet", "allowed_recipients": ["operator"],
            "allowed_domains": ["pypi.org"], "cpu_quota": "50%", "memory_max": "2G"}


@pytest.fixture
def workdir():
    tmp = short_tmpdir()
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def started_host(workdir, text):
    (workdir / "defaults.json").write_text(text)
    env = clean_env(HYPERHIVE_AGENT_DEFAULTS=workdir / "defaults.json")
    return HostProcess(root=workdir / "hive", env=env)


def test_a_spawned_agent_starts_with_the_operators_defaults(workdir):
    h = started_host(workdir, json.dumps(DEFAULTS)).start()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        applied = json.loads((h.root / "lib/applied/alice/agent.json").read_text())
        assert {k: applied[k] for k in DEFAULTS} == DEFAULTS
        # what the defaults leave out stays the built-in default
        assert applied["claude_plugins"] == [] and applied["extra_mcp_servers"] == {}
        proposed = json.loads((h.root / "lib/agents/alice/config/agent.json").read_text())
        assert proposed == applied
        # and the host runs it with them
        row = next(r for r in h.admin("status")["agent_statuses"] if r["name"] == "alice")
        assert row["model"] == "sonnet"
    finally:
        h.stop()


@pytest.mark.parametrize("text, said", [
    ("{not json", "not valid JSON"),
    ('["a list"]', "must hold a JSON object"),
    ('{"modle": "opus"}', "`modle` is not a setting"),
    ('{"cpu_quota": "all of it"}', "`cpu_quota` must be a percentage"),
    ('{"model": "a", "model": "b"}', "appears more than once"),
])
def test_a_bad_defaults_file_stops_the_host_with_what_is_wrong(workdir, text, said):
    h = started_host(workdir, text)
    h.start(wait=False)
    try:
        assert h.proc.wait(timeout=20) == 2
        assert said in h.log() and "defaults.json" in h.log()
        assert "Traceback" not in h.log()
    finally:
        h.stop()


def test_a_missing_defaults_file_stops_the_host(workdir):
    env = clean_env(HYPERHIVE_AGENT_DEFAULTS=workdir / "nowhere.json")
    h = HostProcess(root=workdir / "hive", env=env)
    h.start(wait=False)
    try:
        assert h.proc.wait(timeout=20) == 2
        assert "nowhere.json" in h.log() and "Traceback" not in h.log()
    finally:
        h.stop()


def test_defaults_are_checked_like_an_agent_json(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"allowed_domains": ["127.0.0.1"]}))
    with pytest.raises(ValueError, match="d.json"):
        repos.load_defaults(path)
    path.write_text(json.dumps(DEFAULTS))
    assert repos.load_defaults(path) == DEFAULTS
