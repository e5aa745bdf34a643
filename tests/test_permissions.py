"""Claude's allow rules, settings and sandbox, and the check of `allowed_domains`."""

import json

import pytest

from hyperhive import agentconfig, permissions, repos
from hyperhive.claude import build_argv
from hyperhive.permissions import (
    DEFAULT_ALLOWED_DOMAINS,
    allowed_rules,
    check_domains,
    domain_problem,
    mcp_rules,
    usable_domains,
)

BUILTINS = ("Bash", "Edit", "Glob", "Grep", "Read", "Write")


def test_without_patterns_bash_is_allowed_whole_and_the_file_tools_only_in_the_dirs():
    assert allowed_rules(BUILTINS, [], ["/state"]) == [
        "Bash", "Read(//state/**)", "Edit(//state/**)", "mcp__hyperhive"]


def test_bash_patterns_replace_bash_one_rule_each():
    rules = allowed_rules(BUILTINS, ["echo:*", "git diff *"], ["/state"])
    assert rules == ["Bash(echo:*)", "Bash(git diff *)", "Read(//state/**)",
                     "Edit(//state/**)", "mcp__hyperhive"]
    assert "Bash" not in rules


def test_a_pattern_that_could_close_the_rule_is_left_out_never_widened():
    rules = allowed_rules(BUILTINS, ["x),Bash,Read(", "echo:*"], ["/state"])
    assert [r for r in rules if r.startswith("Bash")] == ["Bash(echo:*)"]
    # every pattern bad: no Bash at all, not the whole of it
    rules = allowed_rules(BUILTINS, ["a)", "\nrm"], ["/state"])
    assert not [r for r in rules if r.startswith("Bash")]
    # a string instead of a list is no list of patterns either
    assert not [r for r in allowed_rules(BUILTINS, "git *", []) if r.startswith("Bash")]


def test_the_manager_reads_and_edits_the_config_repos_too():
    rules = allowed_rules(BUILTINS, [], ["/state", "/agents/*/config"])
    assert rules == ["Bash", "Read(//state/**)", "Read(//agents/*/config/**)",
                     "Edit(//state/**)", "Edit(//agents/*/config/**)", "mcp__hyperhive"]


def test_only_the_tools_given_get_rules():
    assert allowed_rules(("Read", "Edit", "Write"), ["echo:*"], ["/s"], mcp=()) == [
        "Read(//s/**)", "Edit(//s/**)"]
    assert allowed_rules(("Bash",), [], ["/s"]) == ["Bash", "mcp__hyperhive"]


def test_a_dir_that_cannot_be_written_as_a_rule_is_refused():
    for bad in ("state", "/st ate", "/a,b", "/x(y)", "/a/[b]"):
        with pytest.raises(ValueError, match="cannot be named in a permission rule"):
            allowed_rules(BUILTINS, [], [bad])


def test_mcp_rules_name_each_server_or_its_allowed_tools():
    servers = {"fetch": {"command": "/bin/f", "allowed_tools": ["get", "head"]},
               "all": {"command": "/bin/a"},
               "hyperhive": {"command": "/bin/evil"},
               "broken": {"args": []}, "odd": "x"}
    assert mcp_rules(servers) == ["mcp__hyperhive", "mcp__fetch__get", "mcp__fetch__head",
                                  "mcp__all"]
    assert mcp_rules(None) == mcp_rules([]) == ["mcp__hyperhive"]


def test_settings_allow_the_same_rules_and_sandbox_every_bash():
    rules = allowed_rules(BUILTINS, ["echo:*"], ["/state"])
    settings = permissions.settings(rules, ["/state"], ["pypi.org"], ["p@m"],
                                    hidden_dirs=["/root/.claude"])
    assert settings["permissions"] == {"allow": rules, "deny": ["WebFetch", "WebSearch", "Task"],
                                       "defaultMode": "dontAsk"}
    assert settings["sandbox"] == {
        "enabled": True, "failIfUnavailable": True, "allowUnsandboxedCommands": False,
        "autoAllowBashIfSandboxed": False,
        "network": {"allowedDomains": ["pypi.org"], "strictAllowlist": True,
                    "allowAllUnixSockets": True},
        "filesystem": {"allowWrite": ["/state"], "denyRead": ["/root/.claude"]},
        "credentials": {"envVars": [{"name": "ANTHROPIC_API_KEY", "mode": "deny"},
                                    {"name": "ANTHROPIC_AUTH_TOKEN", "mode": "deny"},
                                    {"name": "CLAUDE_CODE_OAUTH_TOKEN", "mode": "deny"}]}}
    assert settings["enabledPlugins"] == {"p@m": True}
    assert settings["autoCompactEnabled"] is False


def test_the_argv_loads_no_settings_file_but_ours():
    argv = build_argv("claude", "haiku", allowed=["Bash(echo:*)", "mcp__hyperhive"])
    assert argv[argv.index("--setting-sources") + 1] == ""
    assert argv[argv.index("--allowedTools") + 1] == "Bash(echo:*),mcp__hyperhive"
    assert argv[argv.index("--tools") + 1] == "Bash,Edit,Glob,Grep,Read,Write"


@pytest.mark.parametrize("domain", [
    "pypi.org", "files.pythonhosted.org", "*.example.com", "xn--bcher-kva.example", "a-b.co.uk",
])
def test_public_domain_names_are_fine(domain):
    assert domain_problem(domain) is None


@pytest.mark.parametrize("domain,why", [
    ("localhost", "this machine"),
    ("LOCALHOST", "this machine"),
    ("fe80::1%eth0", "IP address"),
    ("foo.localhost", "this machine"),
    ("*.localhost", "this machine"),
    ("printer.local", "this machine"),
    ("db.internal", "this machine"),
    ("127.0.0.1", "IP address"),
    ("10.1.2.3", "IP address"),
    ("169.254.169.254", "IP address"),
    ("::1", "IP address"),
    ("[::1]", "IP address"),
    ("fd00::1", "IP address"),
    ("127.1", "not a domain name"),
    ("2130706433", "not a domain name"),
    ("0x7f.0.0.1", "not a domain name"),
    ("*", "every host"),
    ("*.*", "every host"),
    ("*.com", "top-level domain"),
    ("github.*", "not a domain name"),
    ("evil.com:22", "not a domain name"),
    ("Example.COM", "not a domain name"),
    ("pypi.org.", "not a domain name"),
    ("", "not a domain name"),
    (7, "not a domain name"),
])
def test_local_addresses_and_wildcards_are_refused_with_a_sentence(domain, why):
    assert why in domain_problem(domain)


def test_check_domains_takes_null_for_the_default_and_refuses_the_rest():
    check_domains(None)
    check_domains([])
    check_domains(list(DEFAULT_ALLOWED_DOMAINS))
    with pytest.raises(ValueError, match="must be a list"):
        check_domains("pypi.org")
    with pytest.raises(ValueError, match="localhost"):
        check_domains(["pypi.org", "localhost"])
    with pytest.raises(ValueError, match="at most"):
        check_domains([f"h{i}.example.com" for i in range(101)])


def test_the_default_list_passes_its_own_check():
    assert all(domain_problem(d) is None for d in DEFAULT_ALLOWED_DOMAINS)


def test_the_harness_drops_bad_domains_and_never_widens():
    assert usable_domains(None) == (list(DEFAULT_ALLOWED_DOMAINS), [])
    kept, problems = usable_domains(["pypi.org", "127.0.0.1", "*"])
    assert kept == ["pypi.org"] and len(problems) == 2
    assert usable_domains("pypi.org")[0] == []


def _config_repo(tmp_path, **fields):
    """An applied repo whose HEAD commits this agent.json (check_config reads the commit)."""
    if not (tmp_path / ".git").exists():
        repos.git(tmp_path, "init", "-q")
    (tmp_path / "agent.json").write_text(json.dumps({**agentconfig.DEFAULT_CONFIG, **fields}))
    repos.git(tmp_path, "add", "agent.json")
    repos.git(tmp_path, "commit", "-q", "--allow-empty", "-m", "agent.json")
    return tmp_path


def test_check_config_refuses_a_bash_pattern_that_would_smuggle_in_another_rule(tmp_path):
    repos.check_config(_config_repo(tmp_path, allowed_bash_patterns=["git status:*"]))
    with pytest.raises(repos.GitError, match="parentheses"):
        repos.check_config(_config_repo(tmp_path, allowed_bash_patterns=["x),Bash,Read(x"]))


def test_check_config_refuses_a_loopback_domain(tmp_path):
    repos.check_config(_config_repo(tmp_path))
    with pytest.raises(repos.GitError,
                       match=r"agent\.json: `allowed_domains`: '127\.0\.0\.1' is an IP"):
        repos.check_config(_config_repo(tmp_path, allowed_domains=["127.0.0.1"]))
    with pytest.raises(repos.GitError, match="every host"):
        repos.check_config(_config_repo(tmp_path, allowed_domains=["*"]))
    repos.check_config(_config_repo(tmp_path, allowed_domains=None))


def test_a_new_agent_json_shows_the_default_domains():
    assert agentconfig.DEFAULT_CONFIG["allowed_domains"] == list(DEFAULT_ALLOWED_DOMAINS)
