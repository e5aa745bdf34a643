"""Backend command lines, checked exactly (nixos-container cannot run here)."""

import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hive import short_tmpdir, wait_for
from hyperhive import backends
from hyperhive.backends import AgentIds, AgentSpec, NspawnBackend, nixos_commands, nspawn_start_argv


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
    argv, env, cwd = NspawnBackend(on_exit=None).command(spec)
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


def test_nspawn_puts_no_environment_in_its_argv(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    backend = NspawnBackend(on_exit=None)
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
    monkeypatch.delenv("DBUS_SYSTEM_BUS_ADDRESS", raising=False)
    monkeypatch.setattr(backends, "SYSTEM_BUS", "/nonexistent/system_bus_socket")
    with caplog.at_level(logging.INFO, logger="hyperhive.backends"):
        argv, _, _ = NspawnBackend(on_exit=None).command(alice_spec())
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
    assert not backends.machined_available()
    machined = subprocess.Popen([MACHINED], env={**os.environ, "SYSTEMD_LOG_LEVEL": "err"},
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        wait_for(backends.machined_available, what="systemd-machined on the test's bus")
        with caplog.at_level(logging.INFO, logger="hyperhive.backends"):
            argv, _, _ = NspawnBackend(on_exit=None).command(alice_spec())
    finally:
        machined.terminate()
        machined.wait()
    assert "--register=yes" in argv and "--register=no" not in argv
    assert "nspawn containers are registered machines" in caplog.text
