"""Our part of claude's start (SPEC §11): the MCP process claude starts each turn.

Side by side in one run, each measured --runs times, interleaved:

  relay   `hyperhive mcp`: the stdlib relay, to a warm `hyperhive mcp --listen-fd`
          started once before the runs (as the harness keeps it);
  direct  `hyperhive mcp --stdio`: the SDK server in the process claude starts (the
          way it was before the relay).

For each: start -> the answer to an `initialize` line (what claude waits for), and the
process's peak RSS (VmHWM) once it has answered. Also the baseline the SPEC names:
`python -c "import hyperhive.mcp_server"`, its wall time, CPU and peak RSS.

With the real claude CLI (HYPERHIVE_TEST_CLAUDE, else .cache/claude) and
tests/anthropic_stub.py: `claude -p` with no MCP server, with the relay and with the
direct server, time from its start to its first API request.

Run: .venv/bin/python bench/mcp_start.py [--runs 10] [--claude-runs 5]
"""

import argparse
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time

import benchlib as B
from anthropic_stub import Stub, claude_env, find_claude

sys.path.insert(0, str(B.REPO))
from hyperhive import mcprelay  # the standard library only

BAR_MS = 100.0
BAR_RSS_MB = 20.0
ENTRY = str(B.REPO / "hyperhive.py")
PYTHON = sys.executable
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "bench", "version": "0"}}}


class WarmServer:
    """`hyperhive mcp --listen-fd` on mcp-tools.sock in a fresh hive dir, as the harness runs it."""

    def __init__(self):
        self.hive_dir = B.hive.short_tmpdir("hhmcp")
        self.listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listening.bind(mcprelay.socket_path(str(self.hive_dir)))
        self.listening.listen(16)
        fd = self.listening.fileno()
        env = {"PATH": os.environ["PATH"], "HYPERHIVE_LOG": "stderr",
               "HYPERHIVE_SOCK": str(self.hive_dir / "mcp.sock")}
        self.proc = subprocess.Popen([PYTHON, ENTRY, "mcp", "--listen-fd", str(fd)],
                                     pass_fds=[fd], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.listening.close()
        shutil.rmtree(self.hive_dir, ignore_errors=True)


def argv_for(kind, hive_dir):
    if kind == "relay":
        return [PYTHON, ENTRY, "mcp", "--hive-dir", str(hive_dir)]
    return [PYTHON, ENTRY, "mcp", "--stdio"]


def time_to_initialize(argv, env):
    """(seconds from spawn to the initialize reply, peak RSS MB of the process then)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    try:
        proc.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
        proc.stdin.flush()
        if not select.select([proc.stdout], [], [], 30)[0]:
            raise RuntimeError(f"{argv} gave no reply in 30 s")
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - started
        assert json.loads(line)["id"] == 1, line
        rss = int(B.status_field(proc.pid, "VmHWM").split()[0]) / 1024
        return elapsed, rss
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()


def import_baseline():
    """`python -c "import hyperhive.mcp_server"`: wall s, CPU s, peak RSS MB."""
    code = ("import resource, time; t = time.perf_counter(); import hyperhive.mcp_server; "
            "u = resource.getrusage(resource.RUSAGE_SELF); "
            "print(time.perf_counter() - t, u.ru_utime + u.ru_stime, u.ru_maxrss)")
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(B.REPO))
    wall, cpu, rss_kb = out.stdout.split()
    return float(wall), float(cpu), int(rss_kb) / 1024


def claude_first_request(claude, stub, home, config):
    """Seconds from `claude -p` starting to the stub's first prompt request."""
    seen = len(stub.requests)
    started = time.time()
    proc = subprocess.Popen(
        [claude, "-p", "--model", "haiku", "--mcp-config", str(config), "--strict-mcp-config"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=claude_env(stub, home), cwd=str(home), start_new_session=True)
    try:
        proc.communicate(b"hello", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    prompts = [r for r in stub.requests[seen:] if r["kind"] == "prompt"]
    if not prompts:
        raise RuntimeError("claude made no API request")
    return prompts[0]["time"] - started


def claude_configs(tmp, hive_dir):
    configs = {}
    for kind in ("none", "relay", "direct"):
        servers = {} if kind == "none" else {"hyperhive": {
            "type": "stdio", "command": argv_for(kind, hive_dir)[0],
            "args": argv_for(kind, hive_dir)[1:],
            "env": {"PATH": os.environ["PATH"], "HYPERHIVE_SOCK": str(hive_dir / "mcp.sock")}}}
        path = tmp / f"mcp-{kind}.json"
        path.write_text(json.dumps({"mcpServers": servers}))
        configs[kind] = path
    return configs


def row(label, xs, unit="ms", scale=1000):
    xs = [x * scale for x in xs]
    print(f"  {label:44} p50 {B.percentile(xs, 50):8.1f} {unit}  max {max(xs):8.1f} {unit}")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--claude-runs", type=int, default=5)
    args = ap.parse_args(argv)
    B.print_machine()
    env = {"PATH": os.environ["PATH"], "HYPERHIVE_LOG": "stderr"}
    warm = WarmServer()
    try:
        B.hive.wait_for(lambda: time_to_initialize(argv_for("relay", warm.hive_dir), env),
                        timeout=30, what="the warm server")
        starts = {"relay": [], "direct": []}
        rss = {"relay": [], "direct": []}
        for _ in range(args.runs):
            for kind in starts:
                seconds, mb = time_to_initialize(argv_for(kind, warm.hive_dir), env)
                starts[kind].append(seconds)
                rss[kind].append(mb)
        wall, cpu, base_rss = import_baseline()
        print(f"\nstart -> initialize answered, {args.runs} runs each (interleaved):")
        for kind in starts:
            row(f"{kind}: time", starts[kind])
            row(f"{kind}: peak RSS", rss[kind], "MB", 1)
        print(f"  baseline `import hyperhive.mcp_server`: {wall * 1000:.0f} ms wall, "
              f"{cpu * 1000:.0f} ms CPU, {base_rss:.1f} MB peak RSS")
        relay_ms = B.percentile(starts["relay"], 50) * 1000
        relay_rss = max(rss["relay"])
        added = _claude_part(args, warm)
        passed = relay_rss <= BAR_RSS_MB and (added if added is not None else relay_ms) <= BAR_MS
        what = (f"claude's first request +{added:.0f} ms with our MCP server" if added is not None
                else f"relay start -> initialize answered p50 {relay_ms:.1f} ms")
        print(f"\nVERDICT our part of claude's start: {B.verdict(passed)} — {what} "
              f"(bar {BAR_MS:.0f} ms), relay peak RSS {relay_rss:.1f} MB (bar {BAR_RSS_MB:.0f} MB)")
    finally:
        warm.stop()
    return 0 if passed else 1


def _claude_part(args, warm):
    """p50 of (relay - none) in ms to claude's first API request; None without claude."""
    claude = find_claude()
    if args.claude_runs <= 0 or not os.access(claude, os.X_OK):
        print(f"\n(no claude CLI at {claude}: claude's own start not measured)")
        return None
    tmp = B.hive.short_tmpdir("hhclaude")
    try:
        configs = claude_configs(tmp, warm.hive_dir)
        firsts = {kind: [] for kind in configs}
        with Stub() as stub:
            stub.add_rule(r".*", [{"text": "ok"}], times=None)
            for _ in range(args.claude_runs):
                for kind, config in configs.items():
                    firsts[kind].append(claude_first_request(claude, stub, tmp, config))
        print(f"\nclaude -p start -> its first API request, {args.claude_runs} runs each:")
        for kind, xs in firsts.items():
            row(f"MCP config: {kind}", xs)
        base = B.percentile(firsts["none"], 50)
        for kind in ("relay", "direct"):
            print(f"  {kind} adds (p50 - p50): {(B.percentile(firsts[kind], 50) - base) * 1000:.0f} ms")
        return (B.percentile(firsts["relay"], 50) - base) * 1000
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
