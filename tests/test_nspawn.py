"""The nspawn backend: agents in real systemd-nspawn containers, driven by the real claude."""

import shutil
import subprocess

import pytest

from anthropic_stub import Stub, claude_env, find_claude
from hive import HostProcess, short_tmpdir, wait_for

pytestmark = pytest.mark.skipif(shutil.which("systemd-nspawn") is None,
                                reason="systemd-nspawn is installed by ./dev setup")


def row(h, name):
    return next(r for r in h.admin("status")["agent_statuses"] if r["name"] == name)


def test_an_agent_in_a_container_answers_the_operator():
    with Stub() as stub:
        root = short_tmpdir()
        env = claude_env(stub, root / "home")
        env["HYPERHIVE_LOG"] = "stderr"
        h = HostProcess(root=root, claude_bin=find_claude(), env=env,
                        args=["--backend", "nspawn"]).start()
        try:
            assert h.admin("spawn", name="alice")["ok"]
            wait_for(lambda: row(h, "alice")["turn_state"] == "idle", timeout=60,
                     what="alice's harness inside its container")
            ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
            assert "--machine=h-alice" in ps and "--machine=hm1nd" in ps
            stub.add_rule(r"where are you", agent="alice", steps=[
                {"tool": "mcp__hyperhive__send",
                 "input": {"to": "operator", "body": "in a container"}}, {"text": "ok"}])
            h.admin("send", to="alice", body="where are you?")
            wait_for(lambda: any(m["body"] == "in a container"
                                 for m in h.admin("inbox")["messages"]),
                     timeout=90, what="alice's answer")
            notes = h.root / "lib/agents/alice/harness/hyperhive-turn-stats.sqlite"
            assert notes.exists()          # /harness inside is the harness dir outside
            assert h.admin("stop", name="alice")["ok"]
            ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
            assert "--machine=h-alice" not in ps
        finally:
            h.stop()
