"""Backend command lines, checked exactly (nixos-container cannot run here)."""

from pathlib import Path

import pytest

from hyperhive.backends import AgentSpec, NspawnBackend, nixos_commands, nspawn_start_argv


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


def test_nspawn_argv_binds_the_agent_dirs():
    spec = AgentSpec(name="alice", manager=False, hive_dir=Path("/r/run/agents/alice"),
                     state_dir=Path("/r/lib/agents/alice/state"),
                     claude_dir=Path("/r/lib/agents/alice/claude"),
                     home_dir=Path("/r/lib/agents/alice/home"),
                     config_dir=Path("/r/lib/applied/alice"), web="127.0.0.1:8123",
                     claude_bin="claude")
    argv, env, cwd = NspawnBackend(on_exit=None).command(spec)
    assert argv[:2] == ["systemd-nspawn", "--quiet"]
    assert "--machine=h-alice" in argv and "--directory=/" in argv and "--volatile=yes" in argv
    for bind in ("--bind=/r/run/agents/alice:/run/hive", "--bind=/r/lib/agents/alice/state:/state",
                 "--bind=/r/lib/agents/alice/claude:/root/.claude",
                 "--bind-ro=/r/lib/applied/alice:/etc/hyperhive"):
        assert bind in argv
    harness = argv[argv.index("--") + 1:]
    assert harness[2:] == ["agent", "--name", "alice", "--hive-dir", "/run/hive",
                           "--state-dir", "/state", "--web", "/run/hive/page.sock",
                           "--claude-bin", "claude"]
    assert "--setenv=HYPERHIVE_AGENT_CONFIG=/etc/hyperhive/agent.json" in argv
    assert not any(a.startswith("--bind=") and ":/agents" in a for a in argv)


def test_nspawn_argv_is_plain_data():
    argv = nspawn_start_argv("bob", "/", [("/a", "/b")], [("/c", "/c")], ["x"], {"K": "v"})
    assert argv[-2:] == ["--", "x"] and "--setenv=K=v" in argv and "--bind-ro=/c:/c" in argv
