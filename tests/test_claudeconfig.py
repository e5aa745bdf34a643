"""What claude runs with: its MCP config, settings, environment and argv, rendered in-process
from agent.json dicts (claudeconfig), and a real ClaudeSetup over real files and dirs."""

import logging
import os

from hyperhive import claude, claudeconfig, notes, settings
from hyperhive.bootconfig import bwrap_disables_userns
from hyperhive.claudesetup import ClaudeSetup
from hyperhive.permissions import CREDENTIAL_ENV, DEFAULT_ALLOWED_DOMAINS, DENIED_TOOLS

ENTRY = ["/usr/bin/python3", "/opt/hyperhive.py"]
FETCH = {"command": "/bin/fetch", "args": ["--quiet"], "env": {"TOKEN": "x"}}


def test_an_agents_mcp_config_names_our_server_with_its_hive_dir_and_name():
    assert claudeconfig.mcp_config(ENTRY, "alice", "/run/hive", False, "/agents", None) == {
        "mcpServers": {"hyperhive": {
            "type": "stdio", "command": "/usr/bin/python3",
            "args": ["/opt/hyperhive.py", "mcp", "--hive-dir", "/run/hive"],
            "env": {"HYPERHIVE_HIVE_DIR": "/run/hive", "HYPERHIVE_AGENT": "alice"},
            "timeout": claudeconfig.MCP_TOOL_TIMEOUT_MS}}}


def test_the_managers_mcp_config_adds_its_flag_its_agents_dir_and_the_extra_servers():
    extra = {"fetch": FETCH, "hyperhive": {"command": "/bin/evil"}, "broken": {"args": []},
             "odd": "not a server"}
    servers = claudeconfig.mcp_config(ENTRY, "manager", "/run/hive", True, "/srv/agents",
                                      extra)["mcpServers"]
    assert list(servers) == ["hyperhive", "fetch"]
    assert servers["hyperhive"]["args"][-1] == "--manager"
    assert servers["hyperhive"]["env"]["HYPERHIVE_AGENTS_DIR"] == "/srv/agents"
    assert servers["fetch"] == {"type": "stdio", "command": "/bin/fetch", "args": ["--quiet"],
                                "env": {"TOKEN": "x"}}
    assert claudeconfig.ignored_servers(extra) == ["hyperhive", "broken", "odd"]
    assert claudeconfig.ignored_servers("not an object") == []


def test_the_rules_hold_the_file_tools_to_the_state_dir_and_the_manager_to_config_repos():
    assert claudeconfig.rule_dirs("/s", False, "/agents") == ["/s"]
    assert claudeconfig.rule_dirs("/s", True, "/agents") == ["/s", "/agents/*/config"]
    config = {"allowed_bash_patterns": ["git status:*", "x),Bash,Read("],
              "extra_mcp_servers": {"fetch": {**FETCH, "allowed_tools": ["get"]}}}
    assert claudeconfig.allowed_rules(config, ["/s"]) == [
        "Bash(git status:*)", "Read(//s/**)", "Edit(//s/**)", "mcp__hyperhive",
        "mcp__fetch__get"]
    assert claudeconfig.allowed_rules({}, ["/s"], notes.TOOLS) == [
        "Read(//s/**)", "Edit(//s/**)", "mcp__hyperhive"]


def test_the_sandbox_writes_only_the_state_dir_and_the_config_repos_that_exist():
    assert claudeconfig.write_dirs("/s") == ["/s"]
    assert claudeconfig.write_dirs("/s", ["/a/bob/config", "/a/alice/config"]) == [
        "/s", "/a/alice/config", "/a/bob/config"]


def test_settings_are_exactly_the_rules_the_sandbox_and_the_plugins_of_agent_json():
    config = {"allowed_bash_patterns": ["echo:*"], "allowed_domains": ["pypi.org", "localhost"],
              "claude_plugins": ["hive@local", 3]}
    assert claudeconfig.settings(config, ["/s"], ["/s"], ["/home/a/.claude"], False) == {
        "permissions": {"allow": ["Bash(echo:*)", "Read(//s/**)", "Edit(//s/**)",
                                  "mcp__hyperhive"],
                        "deny": list(DENIED_TOOLS), "defaultMode": "dontAsk"},
        "sandbox": {
            "enabled": True, "failIfUnavailable": True, "allowUnsandboxedCommands": False,
            "autoAllowBashIfSandboxed": False,
            "network": {"allowedDomains": ["pypi.org"], "strictAllowlist": True,
                        "allowAllUnixSockets": False},
            "filesystem": {"allowWrite": ["/s"], "denyRead": ["/home/a/.claude"]},
            "credentials": {"envVars": [{"name": n, "mode": "deny"} for n in CREDENTIAL_ENV]}},
        "enabledPlugins": {"hive@local": True},
        "autoCompactEnabled": False,
        "autoMemoryEnabled": False,
    }


def test_without_allowed_domains_the_sandbox_gets_the_default_list():
    settings = claudeconfig.settings({}, ["/s"], ["/s"], [], True)
    assert settings["sandbox"]["network"]["allowedDomains"] == list(DEFAULT_ALLOWED_DOMAINS)
    assert settings["sandbox"]["network"]["allowAllUnixSockets"] is True
    assert claudeconfig.settings_problems({}) == []


def test_what_settings_leave_out_is_named_one_sentence_each():
    problems = claudeconfig.settings_problems(
        {"allowed_bash_patterns": "x),Bash,Read(", "allowed_domains": ["localhost"]})
    assert len(problems) == 2
    assert "x),Bash,Read(" in problems[0] and problems[0].endswith("left out of the Bash rules")
    assert "localhost" in problems[1]
    assert problems[1].endswith("left out of the sandbox's network")


def test_claudes_env_drops_the_harnesss_channels_and_puts_our_command_first():
    environ = {"PATH": "/usr/bin", "CLAUDECODE": "1", "NOTIFY_SOCKET": "/run/n",
               "WATCHDOG_USEC": "1", "HYPERHIVE_SOCK": "/x", "USER": "root", "KEEP": "me"}
    assert claudeconfig.claude_env(environ, "alice", "/run/hive", "/state") == {
        "PATH": "/run/hive/bin:/usr/bin", "USER": "root", "KEEP": "me",
        "DISABLE_AUTOUPDATER": "1", "HYPERHIVE_HIVE_DIR": "/run/hive",
        "HYPERHIVE_WAKE_SPOOL": "/state/.hyperhive-wake", "LOGNAME": "alice"}
    assert claudeconfig.claude_env({}, "alice", "/h", "/s")["PATH"] == "/h/bin:/usr/bin:/bin"
    assert claudeconfig.claude_env({}, "alice", "/h", "/s")["USER"] == "alice"


def test_a_turns_argv_carries_exactly_the_rules_of_agent_json():
    config = {"allowed_bash_patterns": ["make:*"], "extra_mcp_servers": {"fetch": FETCH}}
    argv = claude.build_argv("claude", "sonnet", "abc", hive_dir="/run/hive",
                             allowed=claudeconfig.allowed_rules(config, ["/s"]))
    assert argv[argv.index("--allowedTools") + 1] == \
        "Bash(make:*),Read(//s/**),Edit(//s/**),mcp__hyperhive,mcp__fetch"
    assert argv[argv.index("--tools") + 1] == ",".join(claudeconfig.BUILTINS)
    assert "--resume=abc" in argv


def test_claudes_argv_runs_as_its_uid_when_it_has_one():
    assert claudeconfig.as_claude(["claude", "-p"], None) == ["claude", "-p"]
    assert claudeconfig.as_claude(["claude"], (1000, 1001)) == [
        "setpriv", "--reuid=1000", "--regid=1001", "--clear-groups", "--", "claude"]


def test_the_shell_command_runs_this_same_hyperhive_with_its_arguments():
    script = claudeconfig.shell_script(["/usr/bin/python3", "/opt/my hive/hyperhive.py"])
    assert script.startswith("#!/bin/sh\n")
    assert script.endswith("exec /usr/bin/python3 '/opt/my hive/hyperhive.py' \"$@\"\n")


def _setup(tmp_path, monkeypatch, name, config):
    agents = tmp_path / "agents"
    (agents / "alice" / "config").mkdir(parents=True, exist_ok=True)
    (agents / "alice" / "state").mkdir(parents=True, exist_ok=True)
    harness_settings = settings.load({**os.environ, "HYPERHIVE_AGENTS_DIR": str(agents),
                                      "CLAUDE_CONFIG_DIR": str(tmp_path / "claude")})
    state = tmp_path / name / "state"
    state.mkdir(parents=True)
    return ClaudeSetup(name, name == "manager", tmp_path / name / "hive", state, config,
                       None, notes.DEFAULT_LIMIT, harness_settings), str(state), agents


def test_the_harness_builds_rules_and_settings_from_agent_json(tmp_path, monkeypatch, caplog):
    """ClaudeSetup from a real agent.json's dict, over real dirs, logging what it drops."""
    caplog.set_level(logging.WARNING)
    config = {"allowed_bash_patterns": ["echo:*", "x),Bash,Read("],
              "allowed_domains": ["pypi.org", "localhost"], "claude_plugins": ["hive@local"],
              "extra_mcp_servers": {"fetch": {"command": "/bin/true"}}}
    setup, state, agents = _setup(tmp_path, monkeypatch, "alice", config)
    rules, settings = setup.allowed_rules(), setup.settings()
    assert rules == ["Bash(echo:*)", f"Read(/{state}/**)", f"Edit(/{state}/**)",
                     "mcp__hyperhive", "mcp__fetch"]
    assert settings["permissions"]["allow"] == rules
    assert settings["sandbox"]["network"]["allowedDomains"] == ["pypi.org"]
    assert "localhost" in caplog.text and "left out of the sandbox's network" in caplog.text
    assert "x),Bash,Read(" in caplog.text and "left out of the Bash rules" in caplog.text
    assert settings["sandbox"]["filesystem"] == {
        "allowWrite": [state], "denyRead": [str(tmp_path / "claude")]}
    assert settings["enabledPlugins"] == {"hive@local": True}
    # this machine's bubblewrap forbids user namespaces: Bash may reach the harness socket
    assert settings["sandbox"]["network"]["allowAllUnixSockets"] is True

    manager, state, _ = _setup(tmp_path, monkeypatch, "manager", config)
    assert f"Edit(/{agents}/*/config/**)" in manager.allowed_rules()
    assert manager.settings()["sandbox"]["filesystem"]["allowWrite"] == [
        state, str(agents / "alice" / "config")]


def test_the_harness_writes_claudes_files_readable_and_not_writable_by_it(tmp_path, monkeypatch):
    setup, _, _ = _setup(tmp_path, monkeypatch, "alice", {})
    setup.write_files()
    hive = tmp_path / "alice" / "hive"
    for name in (claude.MCP_CONFIG_FILE, claude.SETTINGS_FILE, claude.SYSTEM_PROMPT_FILE):
        assert (hive / name).stat().st_mode & 0o777 == 0o644
    command = hive / claudeconfig.SHELL_BIN_DIR / "hyperhive"
    assert command.stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in hive.iterdir()) == sorted(
        [claude.MCP_CONFIG_FILE, claude.SETTINGS_FILE, claude.SYSTEM_PROMPT_FILE, "bin"])


def _old_bwrap(tmp_path):
    old = tmp_path / "bin"
    old.mkdir()
    (old / "bwrap").write_text("#!/bin/sh\necho 'bwrap: Unknown option --disable-userns' >&2\n"
                               "exit 1\n")
    (old / "bwrap").chmod(0o755)
    return old / "bwrap"


def test_a_bubblewrap_that_cannot_forbid_user_namespaces_keeps_unix_sockets_closed(
        tmp_path, monkeypatch, caplog):
    # Allowing unix sockets drops Claude Code's seccomp filter, which also forbids user
    # namespaces; where bubblewrap's --disable-userns fails (too old, or /proc/sys read-only
    # as in systemd-nspawn) a command could make one and undo the sandbox's read-only binds.
    bwrap = _old_bwrap(tmp_path)
    assert bwrap_disables_userns(str(bwrap)) is False
    assert bwrap_disables_userns(None) is False
    monkeypatch.setenv("PATH", f"{bwrap.parent}{os.pathsep}/usr/bin:/bin")
    setup, _, _ = _setup(tmp_path, monkeypatch, "alice", {})
    assert setup.settings()["sandbox"]["network"]["allowAllUnixSockets"] is False
    assert "cannot disable user namespaces" in caplog.text
