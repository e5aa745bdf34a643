"""hyperhive as a user installs it: a wheel built from this checkout, installed with its
dependencies into a fresh venv outside the checkout, run through the venv's console
script (no PYTHONPATH, no HYPERHIVE_STATIC, cwd elsewhere) with a real claude against
the scripted stub, and its pages driven in a real Chromium.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from anthropic_stub import Stub, claude_env, find_claude
from browser import ARTIFACTS
from hive import REPO, HostProcess, free_port, short_tmpdir, wait_for
from test_e2e import row, spawn

# What a wheel is built from: the package, its entry and its pages' files.
SOURCES = ("pyproject.toml", "README.md", "hyperhive.py", "hyperhive", "static")
VENDOR = ("uPlot.iife.min.js", "uPlot.min.css", "xterm.js", "xterm.css", "addon-fit.js")


def run(argv, **kwargs):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def build_wheel(into):
    """`pip wheel` of a copy of the checkout (the build leaves build/ and egg-info behind)."""
    for name in VENDOR:
        assert (REPO / "static" / "vendor" / name).is_file(), \
            f"static/vendor/{name} is missing: run ./dev setup first"
    src = into / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            # static/vendor may be a symlink: the wheel gets the files
            shutil.copytree(path, src / name, symlinks=False,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(path, src / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(into / "dist"),
         str(src)], cwd=into)
    (wheel,) = (into / "dist").glob("hyperhive-*.whl")
    return wheel


@pytest.fixture(scope="module")
def venv():
    """A fresh venv (Debian's Python, so agent uids can run it) with the wheel installed."""
    tmp = short_tmpdir("hhpkg")
    tmp.chmod(0o755)        # agents' claude runs `hyperhive mcp` from here as its own uid
    try:
        wheel = build_wheel(tmp)
        run(["/usr/bin/python3", "-m", "venv", str(tmp / "venv")])
        run([str(tmp / "venv" / "bin" / "pip"), "install", "-q", str(wheel)], cwd=tmp)
        yield tmp / "venv"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def stub():
    with Stub() as s:
        yield s


@pytest.fixture(scope="module")
def hive(venv, stub):
    root = short_tmpdir()
    env = claude_env(stub, root / "home")
    for key in ("PYTHONPATH", "HYPERHIVE_STATIC", "NOTIFY_SOCKET", "WATCHDOG_USEC"):
        env.pop(key, None)
    env["HYPERHIVE_LOG"] = "stderr"
    h = HostProcess(root=root, claude_bin=find_claude(), env=env, dashboard_port=free_port(),
                    command=[str(venv / "bin" / "hyperhive")], cwd=str(venv.parent),
                    args=["--backend", "process"])
    h.start()
    try:
        spawn(h, "alice")
        yield h
    finally:
        h.stop()
        shutil.rmtree(root, ignore_errors=True)


def cmdline(pid):
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def environ(pid):
    return dict(v.split("=", 1) for v in Path(f"/proc/{pid}/environ").read_bytes()
                .decode(errors="replace").split("\0") if "=" in v)


def processes_with(*words):
    """(pid, argv) of each running process whose command line holds all of `words`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = cmdline(entry)
            except OSError:
                continue
            if all(w in argv for w in words):
                found.append((int(entry), argv))
    return found


def open_page(context, url):
    page = context.new_page()
    errors, failed = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    page.goto(url)
    expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
    return page, errors, failed


def test_the_installed_host_runs_its_agents_and_their_tools_from_the_venv(venv, hive):
    script = str(venv / "bin" / "hyperhive")
    assert cmdline(hive.proc.pid)[:3] == [str(venv / "bin" / "python3"), script, "host"]
    harnesses = processes_with("agent", "--hive-dir", str(hive.root / "run" / "agents" / "alice"))
    assert harnesses, "no harness process for alice"
    for pid, argv in [*harnesses, (hive.proc.pid, cmdline(hive.proc.pid))]:
        # the console script's shebang names the venv's Python; nothing points at the checkout
        assert argv[:2] == [str(venv / "bin" / "python3"), script], argv
        assert "PYTHONPATH" not in environ(pid) and "HYPERHIVE_STATIC" not in environ(pid)
        assert not os.readlink(f"/proc/{pid}/cwd").startswith(str(REPO))
    config = hive.root / "run" / "agents" / "alice" / "claude-mcp-config.json"
    assert f'"command": "{script}"' in config.read_text()


def test_the_installed_pages_draw_charts_and_run_a_terminal(venv, hive, stub, context):
    stub.add_rule(r"hello from the wheel", agent="alice", steps=[
        {"tool": "mcp__hyperhive__send",
         "input": {"to": "operator", "body": "alice answers from the venv"}},
        {"text": "done"}])
    hive.login(context)
    port = row(hive, "alice")["port"]
    dash, dash_errors, dash_failed = open_page(context, f"http://127.0.0.1:{hive.dashboard_port}/")
    expect(dash.locator("#agent-list")).to_contain_text("alice")
    # a turn: the real claude starts `hyperhive mcp` from the venv, as alice's uid
    assert hive.admin("send", to="alice", body="hello from the wheel")["ok"]
    expect(dash.locator("#flow-list li", has_text="alice answers from the venv")).to_be_visible(
        timeout=30_000)
    assert dash.evaluate("getComputedStyle(document.body).backgroundColor") != "rgba(0, 0, 0, 0)"
    dash.screenshot(path=str(ARTIFACTS / "installed-dashboard.png"), full_page=True)

    agent, agent_errors, agent_failed = open_page(context, f"http://127.0.0.1:{port}/")
    expect(agent.locator("#term .row.r-tool", has_text="send → operator")).to_be_visible(
        timeout=10_000)

    stats, stats_errors, stats_failed = open_page(
        context, f"http://127.0.0.1:{port}/stats?window=1h")
    expect(stats.locator("#charts-note")).to_be_hidden()
    expect(stats.locator(".stats-page .uplot canvas").first).to_be_visible(timeout=10_000)

    term, term_errors, term_failed = open_page(context, f"http://127.0.0.1:{port}/terminal")
    expect(term.locator("#shell-state")).to_have_text(re.compile(r"● running · pid \d+"),
                                                      timeout=10_000)
    rows = term.locator("#shell .xterm-rows")
    expect(rows).to_contain_text("state", timeout=10_000)       # the prompt shows the cwd
    term.locator("#shell .xterm").click()
    term.keyboard.type("echo from-the-$((6*7))-shell")
    term.keyboard.press("Enter")
    expect(rows).to_contain_text("from-the-42-shell", timeout=10_000)
    term.locator("#shell-stop button").click()
    expect(term.locator("#shell-state")).to_have_text("○ no shell", timeout=10_000)

    assert dash_errors + agent_errors + stats_errors + term_errors == []
    assert dash_failed + agent_failed + stats_failed + term_failed == []
    for page in (dash, agent, stats, term):
        page.close()


def test_the_installed_package_runs_an_agent_in_an_nspawn_container(venv, stub):
    if shutil.which("systemd-nspawn") is None:
        pytest.fail("systemd-nspawn is missing: ./dev setup installs it")
    root = short_tmpdir()
    env = claude_env(stub, root / "home")
    for key in ("PYTHONPATH", "HYPERHIVE_STATIC", "NOTIFY_SOCKET", "WATCHDOG_USEC"):
        env.pop(key, None)
    h = HostProcess(root=root, claude_bin=find_claude(), env=env,
                    command=[str(venv / "bin" / "hyperhive")], cwd=str(venv.parent),
                    args=["--backend", "nspawn"])
    try:
        h.start()
        assert h.admin("spawn", name="bob")["ok"]
        wait_for(lambda: row(h, "bob")["turn_state"] == "idle", timeout=60,
                 what="bob's harness inside its container")
        (_pid, argv), = processes_with("--machine=h-bob")
        assert argv[argv.index("--") + 1] == str(venv / "bin" / "hyperhive"), argv
        stub.add_rule(r"where is the wheel", agent="bob", steps=[
            {"tool": "mcp__hyperhive__send",
             "input": {"to": "operator", "body": "the wheel is in here"}}, {"text": "ok"}])
        h.admin("send", to="bob", body="where is the wheel?")
        wait_for(lambda: any(m["body"] == "the wheel is in here"
                             for m in h.admin("inbox")["messages"]),
                 timeout=60, what="bob's answer from inside his container")
    finally:
        h.stop()
        shutil.rmtree(root, ignore_errors=True)
