"""Re-record what the real claude CLI prints when the API answers 429 (the rate-limit files here).

    PYTHONPATH=$PWD .venv/bin/python tests/recordings/record_rate_limits.py [--claude BIN]

Each case runs one `claude -p "say hello"` against the scripted API (tests/anthropic_stub.py)
and writes its stdout here, with the run's cwd written as /state and its HOME as /home/agent
like the other recordings. Resets are an hour ahead of the run, so the files carry real
unix times of the recording day.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from anthropic_stub import Stub, claude_env, find_claude  # noqa: E402

HOUR = 3600
# name: (login, CLAUDE_CODE_MAX_RETRIES or None for claude's default, the steps of "say hello")
CASES = {
    # A Claude login over its 5-hour window: claude does not retry, it prints the reset.
    "rate-limit-subscription-rejected.jsonl": (
        "subscription", None,
        [{"error": 429, "limit": {"plan": "subscription", "reset_in": HOUR}}]),
    # An API key's per-minute limit: retry-after only, no reset time in the stream.
    "rate-limit-api-key-rejected.jsonl": (
        "api", "0", [{"error": 429, "limit": {"plan": "api", "reset_in": HOUR}}]),
    # An API key's short limit: claude waits out retry-after itself and the turn succeeds.
    "rate-limit-api-key-retried.jsonl": (
        "api", None, [{"error": 429, "limit": {"plan": "api", "reset_in": 2}}, {"text": "Hello!"}]),
    # A Claude login near its limit: the answer comes, with a warning event first.
    "rate-limit-subscription-warning.jsonl": (
        "subscription", None,
        [{"text": "Hello!", "limit": {"plan": "subscription", "status": "allowed_warning",
                                      "reset_in": HOUR}}]),
}


def record(claude, name, login, retries, steps):
    home = Path(tempfile.mkdtemp(prefix="hh-rec-home"))
    cwd = Path(tempfile.mkdtemp(prefix="hh-rec-cwd"))
    with Stub() as stub:
        # One step per request: the retried case answers its retry with the next step.
        for index, step in enumerate(steps):
            stub.add_rule("say hello", [step], times=1 if index < len(steps) - 1 else None)
        env = claude_env(stub, home)
        if login == "subscription":
            del env["ANTHROPIC_API_KEY"]
            env["CLAUDE_CODE_OAUTH_TOKEN"] = "sk-ant-oat01-recording"
        env.pop("CLAUDE_CODE_MAX_RETRIES")
        if retries is not None:
            env["CLAUDE_CODE_MAX_RETRIES"] = retries
        started = time.monotonic()
        proc = subprocess.run([claude, "-p", "--output-format", "stream-json", "--verbose",
                               "--model", "claude-sonnet-4-5", "say hello"],
                              env=env, cwd=cwd, capture_output=True, timeout=300)
    out = proc.stdout
    # claude names the project dir after the cwd with every / as -.
    for old, new in ((str(cwd).replace("/", "-"), "-state"), (str(cwd), "/state"),
                     (str(home), "/home/agent")):
        out = out.replace(old.encode(), new.encode())
    (HERE / name).write_bytes(out)
    print(f"{name}: rc {proc.returncode}, {time.monotonic() - started:.1f}s, "
          f"stderr {proc.stderr.decode()[-200:]!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claude", default=find_claude())
    args = parser.parse_args()
    for name, (login, retries, steps) in CASES.items():
        record(args.claude, name, login, retries, steps)


if __name__ == "__main__":
    main()
