"""The operator's agent defaults (HYPERHIVE_AGENT_DEFAULTS): a new agent's first agent.json."""

import json
import os
import shutil

import pytest

from hive import HostProcess, clean_env, short_tmpdir
from hyperhive import agentconfig

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
    with pytest.raises(ValueError, match=r"d\.json"):
        agentconfig.load_defaults(path)
    path.write_text(json.dumps(DEFAULTS))
    assert agentconfig.load_defaults(path) == DEFAULTS


@pytest.mark.parametrize("config, said", [
    ({"modle": "opus"}, "`modle` is not a setting"),
    ({"model": None}, "`model` must be a string"),
    ({"allowed_domains": "pypi.org"}, None),     # check_domains has its own words
    ({"extra_mcp_servers": {"hyperhive": {"command": "x"}}}, "`hyperhive` is taken"),
    ({"extra_mcp_servers": {"a/b": {"command": "x"}}}, "server name"),
    ({"extra_mcp_servers": {"fetch": {"args": []}}}, "with a `command` string"),
    ({"extra_mcp_servers": {"fetch": {"command": "x", "allowedTools": ["*"]}}},
     "`allowedTools` is not one of command, args, env, allowed_tools"),
    ({"extra_mcp_servers": {"fetch": {"command": "x", "args": [1]}}}, "must be strings"),
    ({"extra_mcp_servers": {"fetch": {"command": "x", "env": {"A": 1}}}}, "must be strings"),
    ({"memory_max": "2 G"}, "`memory_max` must be a size"),
])
def test_check_config_refuses_what_no_backend_could_run(config, said):
    problem = agentconfig.settings_problem(config)
    assert problem is not None
    if said:
        assert said in problem


def test_every_setting_of_the_default_config_passes():
    assert agentconfig.settings_problem(agentconfig.DEFAULT_CONFIG) is None
    assert set(agentconfig.DEFAULT_CONFIG) == set(agentconfig.SETTINGS)
    server = {"command": "/bin/fetch", "args": ["-q"], "env": {"A": "1"}, "allowed_tools": ["x"]}
    assert agentconfig.settings_problem({"extra_mcp_servers": {"fetch": server},
                                   "cpu_quota": "200%", "memory_max": "512M"}) is None


@pytest.mark.skipif(os.path.isdir("/run/systemd/system"), reason="systemd would apply them")
def test_limits_that_cannot_hold_are_said_plainly_to_the_operator(workdir):
    h = started_host(workdir, json.dumps({"memory_max": "2G"})).start()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        bodies = [json.loads(m["body"]) for m in h.admin("inbox")["messages"]
                  if m["from"] == "system"]
        notes = [b for b in bodies if b.get("event") == "limits_not_applied"]
        assert {b["agent"] for b in notes} == {"manager", "alice"}
        assert "alice's cpu_quota and memory_max are not applied" in \
            next(b["reason"] for b in notes if b["agent"] == "alice")
        assert "WARNING" in h.log() and "not applied" in h.log()
        # once per agent, not at every start
        assert h.admin("restart", name="alice")["ok"]
        again = [m for m in h.admin("inbox")["messages"] if "limits_not_applied" in m["body"]]
        assert len(again) == 2
    finally:
        h.stop()
