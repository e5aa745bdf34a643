"""Backend command lines, checked exactly (nixos-container cannot run here)."""

from pathlib import Path

import pytest

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
