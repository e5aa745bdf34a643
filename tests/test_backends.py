"""Backend command lines, checked exactly (nixos-container cannot run here)."""

import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hive import short_tmpdir, wait_for
from hyperhive import backends, nspawn, settings
from hyperhive.agentspec import AgentIds, AgentSpec
from hyperhive.errors import Unavailable
from hyperhive.limits import Limits
from hyperhive.nixos import limits_drop_in, nixos_commands
from hyperhive.nspawn import NspawnBackend, nspawn_limited, nspawn_start_argv
from hyperhive.process_backend import ProcessBackend


def test_nixos_commands():
    flake = "/var/lib/hyperhive/applied/alice#h-alice"
    assert nixos_commands("alice", "create", flake) == [
        ["nixos-container", "create", "h-alice", "--flake", flake]]
    assert nixos_commands("manager", "start") == [["nixos-container", "start", "hm1nd"]]
    assert nixos_commands("alice", "rebuild", flake) == [
        ["nixos-container", "update", "h-alice", "--flake", flake],
        ["nixos-container", "stop", "h-alice"], ["nixos-container", "start", "h-alice"]]
    assert nixos_commands("alice", "destroy") == [["nixos-container", "destroy", "h-alice"]]
    with pytest.raises(ValueError):
        nixos_commands("alice", "format-disk")
    with pytest.raises(Exception):
        nixos_commands("../x", "start")


def alice_spec(**extra):
    return AgentSpec(name="alice", manager=False, hive_dir=Path("/r/run/agents/alice"),
                     state_dir=Path("/r/lib/agents/alice/state"),
                     claude_dir=Path("/r/lib/agents/alice/claude"),
                     home_dir=Path("/r/lib/agents/alice/home"),
                     harness_dir=Path("/r/lib/agents/alice/harness"),
                     config_dir=Path("/r/lib/applied/alice"), web="127.0.0.1:8123",
                     claude_bin="claude", **extra)


def test_nspawn_argv_binds_the_agent_dirs_in_a_user_namespace():
    base = 0x70010000 + 3 * 0x10000
    spec = alice_spec(ids=AgentIds(harness=base, claude=base + 1000, userns=base))
    argv, _, _ = NspawnBackend(on_exit=None).command(spec)
    assert argv[:2] == ["systemd-nspawn", "--quiet"]
    assert "--machine=h-alice" in argv and "--directory=/" in argv and "--volatile=yes" in argv
    assert f"--private-users={base}:65536" in argv
    assert "--private-users-ownership=off" in argv
    for bind in ("--bind=/r/run/agents/alice:/run/hive", "--bind=/r/lib/agents/alice/state:/state",
                 "--bind=/r/lib/agents/alice/claude:/claude",
                 "--bind=/r/lib/agents/alice/home:/home/agent",
                 "--bind=/r/lib/agents/alice/harness:/harness"):
        assert bind in argv
    # The applied repo stays on the host: the harness gets a copy of agent.json.
    assert not any("/r/lib/applied" in a for a in argv)
    harness = argv[argv.index("--") + 1:]
    assert harness[2:] == ["agent", "--name", "alice", "--hive-dir", "/run/hive",
                           "--state-dir", "/state", "--web", "/run/hive/page.sock",
                           "--claude-bin", "claude", "--harness-dir", "/harness",
                           "--claude-ids", "1000:1000", "--env-file", "/harness/env.json"]
    assert not any(a.startswith("--bind=") and ":/agents" in a for a in argv)


def test_nspawn_puts_no_environment_in_its_argv():
    backend = NspawnBackend(on_exit=None,
                            environ={**os.environ, "ANTHROPIC_API_KEY": "sk-ant-secret"})
    argv, env, _ = backend.command(alice_spec())
    assert not any(a.startswith("--setenv") or "sk-ant-secret" in a for a in argv)
    assert "sk-ant-secret" not in env.values()
    inside = backend.environment(alice_spec())
    assert inside["ANTHROPIC_API_KEY"] == "sk-ant-secret"
    assert (inside["HOME"], inside["CLAUDE_CONFIG_DIR"]) == ("/home/agent", "/claude")
    assert inside["HYPERHIVE_AGENT_CONFIG"] == "/harness/agent.json"


def test_nspawn_argv_is_plain_data():
    argv = nspawn_start_argv("bob", "/", [("/a", "/b")], [("/c", "/c")], ["x"])
    assert argv[-2:] == ["--", "x"] and "--bind-ro=/c:/c" in argv
    assert not any(a.startswith("--private-users") for a in argv)


def test_nspawn_registers_the_machine_only_when_asked():
    registered = nspawn_start_argv("bob", "/", [], [], ["x"], register=True)
    assert "--register=yes" in registered and "--register=no" not in registered
    assert "--machine=h-bob" in registered
    plain = nspawn_start_argv("bob", "/", [], [], ["x"])
    assert "--register=no" in plain and "--register=yes" not in plain


def test_without_a_system_bus_nspawn_does_not_register(monkeypatch, caplog):
    monkeypatch.setattr(nspawn, "SYSTEM_BUS", "/nonexistent/system_bus_socket")
    environ = {k: v for k, v in os.environ.items() if k != "DBUS_SYSTEM_BUS_ADDRESS"}
    with caplog.at_level(logging.INFO, logger="hyperhive.nspawn"):
        argv, _, _ = NspawnBackend(on_exit=None, environ=environ).command(alice_spec())
    assert "--register=no" in argv
    assert "systemd-machined is not running" in caplog.text


BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/>
  </policy>
</busconfig>
"""
MACHINED = "/usr/lib/systemd/systemd-machined"


@pytest.fixture
def system_bus(monkeypatch):
    """A D-Bus daemon of this test's own, standing in for the system bus."""
    if os.geteuid() != 0 or not (shutil.which("dbus-daemon") and shutil.which("busctl")
                                 and os.access(MACHINED, os.X_OK)):
        pytest.skip("needs root, dbus-daemon, busctl and systemd-machined")
    tmp = short_tmpdir()
    (tmp / "bus.conf").write_text(BUS_CONF.format(path=tmp / "bus"))
    bus = subprocess.Popen(["dbus-daemon", "--nofork", f"--config-file={tmp}/bus.conf"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    address = f"unix:path={tmp}/bus"
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
    try:
        wait_for(lambda: (tmp / "bus").exists(), what="the test's D-Bus daemon")
        yield address
    finally:
        bus.terminate()
        bus.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def test_with_machined_on_the_system_bus_nspawn_registers(system_bus, caplog):
    assert not nspawn.machined_available(os.environ)
    machined = subprocess.Popen([MACHINED], env={**os.environ, "SYSTEMD_LOG_LEVEL": "err"},
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: nspawn.machined_available(os.environ),
                 what="systemd-machined on the test's bus")
        with caplog.at_level(logging.INFO, logger="hyperhive.nspawn"):
            argv, _, _ = NspawnBackend(on_exit=None, environ=os.environ).command(alice_spec())
    finally:
        machined.terminate()
        machined.wait()
    assert "--register=yes" in argv and "--register=no" not in argv
    assert "nspawn containers are registered machines" in caplog.text
LIMITS = Limits(cpu_quota="50%", memory_max="2G")
SCOPE = ["systemd-run", "--scope", "--quiet", "--collect", "-p", "CPUQuota=50%",
         "-p", "MemoryMax=2G", "--"]


def test_with_systemd_a_process_agent_runs_in_a_scope_with_its_limits():
    backend = ProcessBackend(on_exit=None)
    backend.systemd = True
    plain, _, _ = backend.command(alice_spec())
    argv, _, _ = backend.command(alice_spec(limits=LIMITS))
    assert argv == SCOPE + plain
    assert backend.limits_note(alice_spec(limits=LIMITS)) is None


def test_without_systemd_a_process_agents_limits_are_said_not_to_hold():
    backend = ProcessBackend(on_exit=None)
    backend.systemd = False
    plain, _, _ = backend.command(alice_spec())
    assert backend.command(alice_spec(limits=LIMITS))[0] == plain
    note = backend.limits_note(alice_spec(limits=LIMITS))
    assert note == ("alice's cpu_quota and memory_max are not applied: this machine does not "
                    "run systemd, which would enforce them")
    assert backend.limits_note(alice_spec()) is None


def test_an_nspawn_agent_kept_in_the_hosts_unit_gets_a_scope_for_its_limits():
    backend = NspawnBackend(on_exit=None)
    backend.systemd = True
    plain, _, _ = backend.command(alice_spec())
    assert "--keep-unit" in plain
    argv, _, _ = backend.command(alice_spec(limits=LIMITS))
    assert argv == SCOPE + plain
    assert backend.limits_note(alice_spec(limits=LIMITS)) is None
    backend.systemd = False
    assert backend.command(alice_spec(limits=LIMITS))[0] == plain
    assert "not applied" in backend.limits_note(alice_spec(limits=LIMITS))


def test_an_nspawn_container_in_a_scope_of_its_own_gets_its_limits_as_properties():
    argv = ["systemd-nspawn", "--register=yes", "--machine=h-alice", "--", "harness"]
    for systemd in (True, False):
        assert nspawn_limited(argv, LIMITS, systemd) == [
            "systemd-nspawn", "--register=yes", "--machine=h-alice",
            "--property=CPUQuota=50%", "--property=MemoryMax=2G", "--", "harness"]
    assert nspawn_limited(argv, Limits(), True) == argv
    kept = ["systemd-nspawn", "--keep-unit", "--register=yes", "--", "harness"]
    assert nspawn_limited(kept, LIMITS, True) == SCOPE + kept
    assert nspawn_limited(kept, Limits(memory_max="10%"), False) == kept


def test_a_nixos_agents_limits_are_a_drop_in_of_its_container_unit():
    assert limits_drop_in(alice_spec()) is None
    assert limits_drop_in(alice_spec(limits=LIMITS)) == (
        "# Written by the hyperhive host from alice's agent.json; rewritten at each start.\n"
        "[Service]\nCPUQuota=50%\nMemoryMax=2G\n")
    assert limits_drop_in(alice_spec(limits=Limits(memory_max="512M"))).endswith(
        "[Service]\nMemoryMax=512M\n")


@pytest.mark.parametrize("config, limits", [
    ({"cpu_quota": "200%", "memory_max": "4G"}, Limits("200%", "4G")),
    ({"cpu_quota": None}, Limits()),
    ({}, Limits()),
    # what reaches a command line was checked; a bad value is left out, never passed on
    ({"cpu_quota": "50%\n-p\nUser=root", "memory_max": "2G --x"}, Limits()),
    ({"cpu_quota": "7000%", "memory_max": "1M"}, Limits()),
    ({"cpu_quota": ["50%"], "memory_max": 2048}, Limits()),
])
def test_limits_come_from_agent_json_only_when_they_pass_their_check(config, limits):
    assert Limits.from_config(config) == limits


@pytest.mark.parametrize("key, value, ok", [
    ("cpu_quota", "1%", True), ("cpu_quota", "6400%", True), ("cpu_quota", "6401%", False),
    ("cpu_quota", "0%", False), ("cpu_quota", "50", False), ("cpu_quota", "1.5%", False),
    ("memory_max", "32M", True), ("memory_max", "2G", True), ("memory_max", "16T", True),
    ("memory_max", "17T", False), ("memory_max", "31M", False), ("memory_max", "100%", True),
    ("memory_max", "101%", False), ("memory_max", "2GB", False), ("memory_max", "infinity", False),
])
def test_check_config_bounds_the_limits(tmp_path, key, value, ok):
    from hyperhive import agentconfig
    problem = agentconfig.settings_problem({key: value})
    assert (problem is None) == ok, problem
    if not ok:
        assert f"`{key}`" in problem


def test_the_host_builds_its_backend_by_name(tmp_path):
    plain = settings.load({"PATH": "/bin"})
    process = backends.make("process", None, tmp_path, plain)
    assert type(process) is ProcessBackend and process.environ == {"PATH": "/bin"}
    assert type(backends.make("nspawn", None, tmp_path, plain)) is NspawnBackend
    nixos_settings = settings.load({"HYPERHIVE_FLAKE": "github:example/hyperhive",
                                    "HYPERHIVE_NIXOS_CONF_DIR": str(tmp_path / "conf")})
    nixos = backends.make("nixos", None, tmp_path, nixos_settings)
    assert (nixos.build_dir, nixos.conf_dir) == (tmp_path / "nixos", tmp_path / "conf")
    assert nixos.flake == "github:example/hyperhive"
    with pytest.raises(Unavailable, match="no 'docker' backend; use process, nspawn, nixos"):
        backends.make("docker", None, tmp_path, plain)
