"""The nixos backend, by the command lines it issues and the files it writes.

nixos-container only runs on NixOS, so a stand-in (tests/data/nixos-container) logs
each command and keeps a container's conf file and up/down state. The host is the
real one; a crash comes from a real journald, as systemd would report it.
"""

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from hive import REPO, HostProcess, clean_env, short_tmpdir, wait_for
from hyperhive.agentflake import agent_flake
from hyperhive.agentspec import AgentSpec
from hyperhive.nixos import UNIT_FAILED, UNIT_STOPPED, crashed_agent

FAKE = Path(__file__).resolve().parent / "data"


def nixos_host(tmp, **env):
    """A host with the nixos backend against the stand-ins, its commands logged."""
    conf, state, units, log = tmp / "conf", tmp / "state", tmp / "units", tmp / "commands.jsonl"
    conf.mkdir()
    state.mkdir()
    env = clean_env(PATH=f"{FAKE}:{clean_env()['PATH']}", HYPERHIVE_FLAKE=str(REPO),
                    HYPERHIVE_NIXOS_CONF_DIR=conf, FAKE_NIXOS_STATE=state, FAKE_NIXOS_LOG=log,
                    HYPERHIVE_NIXOS_UNIT_DIR=units, **env)
    h = HostProcess(root=tmp / "hive", env=env, args=["--backend", "nixos"])
    h.conf, h.units = conf, units
    h.commands = lambda: [json.loads(x) for x in log.read_text().splitlines()]
    return h


@pytest.fixture
def nixos():
    tmp = short_tmpdir()
    h = nixos_host(tmp).start()
    yield h
    h.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def since(h, n):
    return [c for c in h.commands()[n:] if c[0] != "status"]


def test_spawn_builds_a_container_from_a_flake_with_the_agents_dirs(nixos):
    h = nixos
    # the manager came first, at host start
    assert ["create", "hm1nd", "--flake", f"path:{h.root}/lib/nixos/manager#manager"] in \
        h.commands()
    n = len(h.commands())
    assert h.admin("spawn", name="alice")["ok"]
    flake = f"path:{h.root}/lib/nixos/alice#alice"
    assert since(h, n) == [["create", "h-alice", "--flake", flake], ["start", "h-alice"]]
    conf = dict(line.split("=", 1) for line in (h.conf / "h-alice.conf").read_text().split("\n")
                if line)
    lib, run = h.root / "lib", h.root / "run"
    assert conf["EXTRA_NSPAWN_FLAGS"] == (
        f'"--bind={run}/agents/alice:/run/hive --bind={lib}/agents/alice/state:/state '
        f'--bind={lib}/agents/alice/claude:/claude --bind={lib}/agents/alice/home:/home/agent '
        f'--bind={lib}/agents/alice/harness:/harness --private-users-ownership=chown"')
    if os.geteuid() != 0:
        return      # a host that is not root gives no uids of their own
    # Root in the container is the first uid of alice's own range; her claude is 1000 in it.
    base = int(conf["PRIVATE_USERS"])
    assert base % 0x10000 == 0 and 0x70010000 <= base < 0x7FFE0000
    assert base != int(dict(line.split("=", 1) for line in (h.conf / "hm1nd.conf").read_text()
                            .split("\n") if line)["PRIVATE_USERS"])
    for d in ("state", "claude", "home"):
        assert (lib / "agents/alice" / d).stat().st_uid == base + 1000
    assert (lib / "agents/alice/harness").stat().st_uid == base
    assert conf["PRIVATE_NETWORK"] == "0" and conf["HOST_ADDRESS"] == "" and \
        conf["LOCAL_ADDRESS"] == "" and conf["FLAKE"] == flake
    manager_conf = (h.conf / "hm1nd.conf").read_text()
    assert f"--bind={lib}/agents:/agents" in manager_conf
    row = next(r for r in h.admin("status")["agent_statuses"] if r["name"] == "alice")
    assert row["running"] is True
    text = (lib / "nixos" / "alice" / "flake.nix").read_text()
    assert f'"git+file://{lib}/applied/alice"' in text and f'"{REPO}"' in text
    assert "port = " + str(row["port"]) in text and "manager = false" in text
    parsed = subprocess.run(["nix-instantiate", "--parse", "-E", text], capture_output=True,
                            text=True)
    assert parsed.returncode == 0, parsed.stderr


def test_lifecycle_verbs_become_nixos_container_commands(nixos):
    h = nixos
    assert h.admin("spawn", name="alice")["ok"]
    n = len(h.commands())
    assert h.admin("stop", name="alice")["ok"]
    assert since(h, n) == [["stop", "h-alice"]]
    n = len(h.commands())
    assert h.admin("start", name="alice")["ok"]
    flake = f"path:{h.root}/lib/nixos/alice#alice"
    assert since(h, n) == [["update", "h-alice", "--flake", flake], ["start", "h-alice"]]
    n = len(h.commands())
    assert h.admin("rebuild", name="alice")["ok"]
    assert since(h, n) == [["stop", "h-alice"], ["update", "h-alice", "--flake", flake],
                           ["start", "h-alice"]]
    n = len(h.commands())
    assert h.admin("destroy", name="alice", purge=True)["ok"]
    assert since(h, n) == [["stop", "h-alice"], ["destroy", "h-alice"]]
    assert not (h.conf / "h-alice.conf").exists()
    assert not (h.root / "lib" / "nixos" / "alice").exists()


def test_containers_outlive_a_host_restart(nixos):
    h = nixos
    assert h.admin("spawn", name="alice")["ok"]
    assert h.stop() == 0
    n = len(h.commands())
    h.start()
    # still up: the host asks once and starts nothing
    assert since(h, n) == []
    assert ["status", "h-alice"] in h.commands()[n:]
    row = next(r for r in h.admin("status")["agent_statuses"] if r["name"] == "alice")
    assert row["running"] is True


def test_a_container_that_stops_unasked_is_a_crash(nixos, journald):
    from systemd import journal
    h = nixos
    assert h.admin("spawn", name="alice")["ok"]
    time.sleep(0.5)    # the journal watch is following by now
    n = len(h.commands())
    # what systemd logs when the unit goes down; another user's record would not count
    journal.send("container@h-alice.service: Deactivated", MESSAGE_ID=UNIT_STOPPED,
                 UNIT="container@h-alice.service")

    def crash():
        messages = h.agent("manager", "recent", limit=50)["messages"]
        return [json.loads(m["body"]) for m in messages if m["from"] == "system"
                and json.loads(m["body"]).get("event") == "container_crash"]
    event = wait_for(crash, timeout=15, what="container_crash for alice")[-1]
    assert event["agent"] == "alice" and event["restarting"] is True
    # restarted after the back-off, from the same flake
    wait_for(lambda: ["start", "h-alice"] in since(h, n), timeout=15, what="the restart")


def test_logs_of_a_nixos_agent_read_its_containers_own_journal(nixos):
    h = nixos
    assert h.admin("spawn", name="alice")["ok"]
    r = h.ctl("--json", "logs", "alice")
    assert json.loads(r.stdout) == {
        "ok": True, "v": 1, "machine": "h-alice", "matches": [],
        "directory": "/var/lib/nixos-containers/h-alice/var/log/journal"}


def test_crashed_agent_reads_only_systemds_unit_records():
    line = {"_UID": "0", "MESSAGE_ID": UNIT_FAILED, "UNIT": "container@h-bob.service"}
    assert crashed_agent(line) == "bob"
    # as systemd.journal.Reader converts them
    converted = {**line, "_UID": 0, "MESSAGE_ID": uuid.UUID(UNIT_STOPPED)}
    assert crashed_agent(converted) == "bob"
    for changed in ({"_UID": "1000"}, {"_UID": 1000}, {"_UID": b"\xff"},
                    {"MESSAGE_ID": "00" * 16}, {"MESSAGE_ID": uuid.UUID(int=0)},
                    {"UNIT": "sshd.service"}, {"UNIT": b"container@h-bob.service"},
                    {"UNIT": "container@h-../x.service"}, {"UNIT": "container@hm1nd.service"}):
        assert crashed_agent({**line, **changed}) is None, changed
    assert crashed_agent("not a record") is None
    assert crashed_agent({}) is None


def test_agent_nix_joins_the_flake_when_the_repo_has_one(tmp_path):
    spec = AgentSpec(
        name="coder", manager=False, hive_dir=tmp_path, state_dir=tmp_path,
        claude_dir=tmp_path, home_dir=tmp_path, config_dir=tmp_path, web="127.0.0.1:8412",
        claude_bin="claude")
    plain = agent_flake(spec, "github:example/hyperhive")
    assert "agent.nix" not in plain and "port = 8412;" in plain
    (tmp_path / "agent.nix").write_text("{ pkgs, ... }: { }\n")
    with_nix = agent_flake(spec, "github:example/hyperhive")
    assert '(config + "/agent.nix")' in with_nix
    for text in (plain, with_nix):
        parsed = subprocess.run(["nix-instantiate", "--parse", "-E", text],
                                capture_output=True, text=True)
        assert parsed.returncode == 0, parsed.stderr


def test_without_the_flake_the_host_says_what_is_missing():
    h = HostProcess(env=clean_env(), args=["--backend", "nixos"])
    h.start(wait=False)
    try:
        assert h.proc.wait(timeout=20) == 2
        assert "HYPERHIVE_FLAKE" in h.log()
        assert "Traceback" not in h.log()
    finally:
        h.stop()
        shutil.rmtree(h.root, ignore_errors=True)


@pytest.fixture
def workdir():
    tmp = short_tmpdir()
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def test_limits_become_a_drop_in_of_the_container_unit_before_it_starts(workdir):
    (workdir / "defaults.json").write_text(json.dumps({"cpu_quota": "50%", "memory_max": "2G"}))
    h = nixos_host(workdir, HYPERHIVE_AGENT_DEFAULTS=workdir / "defaults.json").start()
    try:
        n = len(h.commands())
        assert h.admin("spawn", name="alice")["ok"]
        flake = f"path:{h.root}/lib/nixos/alice#alice"
        assert since(h, n) == [["create", "h-alice", "--flake", flake],
                               ["systemctl", "daemon-reload"], ["start", "h-alice"]]
        drop_in = h.units / "container@h-alice.service.d" / "50-hyperhive-limits.conf"
        assert drop_in.read_text().endswith("[Service]\nCPUQuota=50%\nMemoryMax=2G\n")
        # the same limits again: nothing to reload
        n = len(h.commands())
        assert h.admin("rebuild", name="alice")["ok"]
        assert ["systemctl", "daemon-reload"] not in since(h, n)
        assert h.admin("destroy", name="alice", purge=True)["ok"]
        assert not drop_in.parent.exists()
        # and the agent has no note about them: they hold
        assert not [m for m in h.admin("inbox")["messages"] if "limits" in m["body"]]
    finally:
        h.stop()


def test_the_operators_flake_inputs_reach_every_agents_flake(workdir):
    inputs = {"mcp-matrix": "github:owner/mcp-matrix", "tools": "git+https://example.com/t?ref=${x}"}
    h = nixos_host(workdir, HYPERHIVE_FLAKE_INPUTS=json.dumps(inputs)).start()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        text = (h.root / "lib" / "nixos" / "alice" / "flake.nix").read_text()
    finally:
        h.stop()
    assert 'inputs.mcp-matrix.url = "github:owner/mcp-matrix";' in text
    assert 'inputs.tools.url = "git+https://example.com/t?ref=\\${x}";' in text
    got = evaluate_flake(text, {"agent.json": json.dumps({"model": "opus"})}, workdir)
    assert got["flakeInputs"] == ["config", "hyperhive", "mcp-matrix", "tools"]
    assert got["settings"] == {"model": "opus"}


@pytest.mark.parametrize("value, said", [
    ("[1]", "JSON object"),
    ('{"hyperhive": "github:x/y"}', "cannot name an input"),
    ('{"a b": "github:x/y"}', "cannot name an input"),
    ('{"ok": "line\\nbreak"}', "one-line string"),
    ('{"ok": 5}', "one-line string"),
])
def test_bad_flake_inputs_stop_the_host_with_what_is_wrong(workdir, value, said):
    h = nixos_host(workdir, HYPERHIVE_FLAKE_INPUTS=value)
    h.start(wait=False)
    try:
        assert h.proc.wait(timeout=20) == 2
        assert said in h.log() and "HYPERHIVE_FLAKE_INPUTS" in h.log()
        assert "Traceback" not in h.log()
    finally:
        h.stop()


def test_an_extra_mcp_server_with_allowed_tools_evaluates_to_the_containers_options(workdir):
    # agent.json's servers carry `allowed_tools`; the container's option is `allowedTools`,
    # and an option the module does not declare fails the container's whole evaluation.
    config = {"model": "sonnet", "allowed_domains": None, "memory_max": "2G",
              "extra_mcp_servers": {
                  "fetch": {"command": "/bin/fetch", "args": ["-q"], "env": {"A": "1"},
                            "allowed_tools": ["fetch"]},
                  "bare": {"command": "/bin/bare"}}}
    spec = AgentSpec(
        name="coder", manager=False, hive_dir=workdir, state_dir=workdir, claude_dir=workdir,
        home_dir=workdir, config_dir=workdir, web="127.0.0.1:8412", claude_bin="claude")
    got = evaluate_flake(agent_flake(spec, "github:example/hyperhive"),
                         {"agent.json": json.dumps(config)}, workdir)
    assert got["unknownOptions"] == [] and got["unknownServerOptions"] == []
    assert got["settings"]["extraMcpServers"] == {
        "fetch": {"command": "/bin/fetch", "args": ["-q"], "env": {"A": "1"},
                  "allowedTools": ["fetch"]},
        "bare": {"command": "/bin/bare", "args": [], "env": {}, "allowedTools": ["*"]}}
    assert got["settings"]["memoryMax"] == "2G" and "allowedDomains" not in got["settings"]
    assert (got["name"], got["port"], got["manager"]) == ("coder", 8412, False)


def evaluate_flake(text, files, workdir):
    """Call a written flake's outputs with stand-in inputs (the hyperhive flake's
    agentSystem returns its arguments) and look at the settings module it builds."""
    from test_nix import STUB_LIB, eval_json
    flake_dir, config_dir = workdir / "flake", workdir / "config"
    flake_dir.mkdir()
    config_dir.mkdir(exist_ok=True)
    (flake_dir / "flake.nix").write_text(text)
    for name, content in files.items():
        (config_dir / name).write_text(content)
    expr = f"""
      let
        flake = import (/. + "{flake_dir}/flake.nix");
        hyperhive.lib = {{
          agentSystem = args: args;
          agentSettings = import (/. + "{REPO}/nix/agent-settings.nix");
        }};
        extra = builtins.removeAttrs flake.inputs [ "hyperhive" "config" ];
        inputs = {{ self = {{ }}; inherit hyperhive; config = /. + "{config_dir}"; }}
          // builtins.mapAttrs (name: _: {{ inherit name; }}) extra;
        system = builtins.head (builtins.attrValues (flake.outputs inputs).nixosConfigurations);
        lib = {{ mapAttrs = builtins.mapAttrs; mkOverride = _priority: value: value; }};
        settings = ((builtins.elemAt system.modules 2) {{ inherit lib; }}).hyperhive;
        options = import (/. + "{REPO}/nix/agent-options.nix") {{ lib = {STUB_LIB}; }};
        serverOptions = builtins.attrNames options.extraMcpServers.type.attrsOf.submodule;
      in builtins.toJSON {{
        inherit settings;
        inherit (system) name port manager;
        unknownOptions = builtins.filter (o: !(options ? ${{o}})) (builtins.attrNames settings);
        unknownServerOptions = builtins.concatMap
          (s: builtins.filter (o: !(builtins.elem o serverOptions)) (builtins.attrNames s))
          (builtins.attrValues (settings.extraMcpServers or {{ }}));
        flakeInputs = builtins.attrNames (builtins.head system.modules)._module.args.flakeInputs;
      }}
    """
    return eval_json(expr, workdir)
