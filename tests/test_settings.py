"""The settings object: one declaration per setting, read once at start."""

import ast
from pathlib import Path

import pytest

from hyperhive import settings

PACKAGE = Path(settings.__file__).parent
README = PACKAGE.parent / "README.md"


def test_a_flag_wins_over_the_environment_and_the_environment_over_the_default():
    env = {"HYPERHIVE_CLAUDE": "/opt/claude", "HYPERHIVE_RETENTION_DAYS": "7"}
    got = settings.load(env, {"claude_bin": "/usr/bin/claude", "retention_days": None})
    assert got.claude_bin == "/usr/bin/claude"
    assert got.retention_days == 7.0
    assert got.settle_seconds == 30.0


def test_an_empty_variable_is_the_same_as_an_unset_one():
    got = settings.load({"HYPERHIVE_AGENTS_DIR": "", "HYPERHIVE_LOGIN_CMD": "  "})
    assert got.agents_dir == "/agents" and got.login_cmd is None


def test_the_numbers_read_as_they_always_have():
    got = settings.load({"HYPERHIVE_NOTES_LIMIT": "8192", "HYPERHIVE_RETENTION_DAYS": "0",
                         "HYPERHIVE_SETTLE_SECONDS": "2.5", "HYPERHIVE_LOG": " StdErr "})
    assert (got.notes_limit, got.retention_days, got.settle_seconds) == (8192, 0, 2.5)
    assert got.log_target == "stderr"
    assert settings.defaults().notes_limit == 24576
    assert settings.load({"HYPERHIVE_DAILY_BUDGET_USD": "2.5"}).daily_budget_usd == 2.5
    assert settings.defaults().daily_budget_usd is None


def test_a_bad_number_falls_back_to_its_default_with_a_warning(caplog):
    got = settings.load({"HYPERHIVE_SETTLE_SECONDS": "soon", "HYPERHIVE_NOTES_LIMIT": "-3",
                         "HYPERHIVE_RETENTION_DAYS": "nan"})
    assert got.settle_seconds == 30.0 and got.notes_limit == 24576
    assert got.retention_days == 90.0
    assert "HYPERHIVE_SETTLE_SECONDS='soon' cannot be used" in caplog.text
    assert "HYPERHIVE_NOTES_LIMIT" in caplog.text


@pytest.mark.parametrize("variable, value", [
    ("HYPERHIVE_FLAKE_INPUTS", "[1, 2]"),
    ("HYPERHIVE_FLAKE_INPUTS", "{not json"),
    ("HYPERHIVE_AGENT_PORT_BASE", "99999"),
    ("HYPERHIVE_AGENT_PORT_BASE", "eight thousand"),
    ("HYPERHIVE_LOGIN_CMD", "claude 'auth login"),
    ("HYPERHIVE_DAILY_BUDGET_USD", "0"),
    ("HYPERHIVE_DAILY_BUDGET_USD", "-5"),
    ("HYPERHIVE_DAILY_BUDGET_USD", "nan"),
    ("HYPERHIVE_DAILY_BUDGET_USD", "five dollars"),
])
def test_a_bad_value_that_must_not_be_guessed_stops_the_process_with_its_name(variable, value):
    with pytest.raises(settings.BadSetting, match=variable):
        settings.load({variable: value})


def test_settings_are_read_only_and_replace_makes_new_ones():
    got = settings.defaults()
    with pytest.raises(AttributeError):
        got.claude_bin = "x"
    assert got.replace(claude_bin="x").claude_bin == "x" and got.claude_bin == "claude"
    with pytest.raises(AttributeError, match="no setting"):
        got.replace(nonsense=1)


def test_the_settings_keep_the_environment_they_were_read_from_for_children():
    got = settings.load({"PATH": "/bin", "HYPERHIVE_LOG": "stderr"})
    assert dict(got.environ) == {"PATH": "/bin", "HYPERHIVE_LOG": "stderr"}
    with pytest.raises(TypeError):
        got.environ["PATH"] = "/tmp"


def test_the_readme_settings_table_is_the_declarations():
    text = README.read_text()
    start = text.index("<!-- settings: generated from hyperhive/settings.py -->\n")
    end = text.index("<!-- /settings -->")
    shown = text[start:end].split("\n", 1)[1]
    assert shown == settings.markdown(), (
        "README's settings table is out of date: replace it with "
        "`python -c 'from hyperhive import settings; print(settings.markdown(), end=\"\")'`")


def _environment_reads(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "environb") \
                and isinstance(node.value, ast.Name) and node.value.id == "os":
            yield node.lineno
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("getenv", "getenvb", "putenv", "unsetenv"):
            yield node.lineno
        if isinstance(node, ast.ImportFrom) and node.module == "os" \
                and any(a.name in ("environ", "getenv") for a in node.names):
            yield node.lineno


def test_no_module_but_settings_touches_the_environment():
    offenders = [f"{path.name}:{line}"
                 for path in sorted(PACKAGE.glob("*.py")) if path.name != "settings.py"
                 for line in _environment_reads(ast.parse(path.read_text()))]
    assert not offenders, f"environment read outside settings.py: {offenders}"
