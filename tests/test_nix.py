"""Checks of the Nix files: they parse, and agent.json is rendered as SPEC §8 says.

Needs `nix-instantiate` (Debian: nix-bin). No nix daemon, store or nixpkgs is
used: every call passes `--store dummy://`, which evaluates pure expressions
without touching /nix, so this works as any user.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NIX_DIR = ROOT / "nix"

# The keys of agent.json (SPEC §8) and the option each one comes from.
AGENT_JSON_KEYS = {
    "model": "model",
    "allowed_recipients": "allowedRecipients",
    "claude_plugins": "claudePlugins",
    "claude_marketplaces": "claudeMarketplaces",
    "extra_mcp_servers": "extraMcpServers",
    "allowed_bash_patterns": "allowedBashPatterns",
    "allowed_domains": "allowedDomains",
}

EXPECTED_FILES = {
    "flake.nix",
    "nix/package.nix",
    "nix/host.nix",
    "nix/agent.nix",
    "nix/agent-json.nix",
    "nix/agent-options.nix",
    "nix/agent-template.nix",
}


def nix_instantiate():
    exe = shutil.which("nix-instantiate")
    if exe is None:
        pytest.fail("nix-instantiate not found on PATH (install Debian's nix-bin)")
    return exe


def run_nix(args, tmp_path):
    env = dict(os.environ)
    env.pop("NIX_REMOTE", None)
    env["HOME"] = str(tmp_path)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["NIX_CONF_DIR"] = str(tmp_path / "nixconf")
    (tmp_path / "nixconf").mkdir(exist_ok=True)
    return subprocess.run(
        [nix_instantiate(), "--store", "dummy://", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def eval_json(expr, tmp_path):
    """Evaluate `expr` (which must yield a string of JSON) and decode it."""
    proc = run_nix(["--eval", "--strict", "--json", "-E", expr], tmp_path)
    assert proc.returncode == 0, proc.stderr
    outer = json.loads(proc.stdout)
    return json.loads(outer) if isinstance(outer, str) else outer


def nix_files():
    files = [ROOT / "flake.nix", *sorted(NIX_DIR.rglob("*.nix"))]
    return [f for f in files if f.exists()]


def test_expected_files_exist():
    present = {str(f.relative_to(ROOT)) for f in nix_files()}
    assert EXPECTED_FILES <= present, EXPECTED_FILES - present


@pytest.mark.parametrize("path", nix_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_parses(path, tmp_path):
    proc = run_nix(["--parse", str(path)], tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_agent_json_full(tmp_path):
    expr = """
      builtins.toJSON (builtins.fromJSON (import ./nix/agent-json.nix {
        model = "sonnet";
        allowedRecipients = [ "operator" "coder" ];
        claudePlugins = [ "commit-commands@claude-plugins-official" ];
        claudeMarketplaces = [ "github:owner/repo" ];
        extraMcpServers = {
          fetch = { command = "/bin/fetch"; args = [ "--quiet" ]; env = { A = "1"; }; allowedTools = [ "fetch" ]; };
          bare = { command = "/bin/bare"; };
        };
        allowedBashPatterns = [ "git *" "ls *" ];
        allowedDomains = [ "pypi.org" "*.example.com" ];
      }))
    """
    got = eval_json(expr, tmp_path)
    assert got == {
        "model": "sonnet",
        "allowed_recipients": ["operator", "coder"],
        "claude_plugins": ["commit-commands@claude-plugins-official"],
        "claude_marketplaces": ["github:owner/repo"],
        "extra_mcp_servers": {
            "fetch": {"command": "/bin/fetch", "args": ["--quiet"], "env": {"A": "1"}, "allowed_tools": ["fetch"]},
            "bare": {"command": "/bin/bare", "args": [], "env": {}, "allowed_tools": ["*"]},
        },
        "allowed_bash_patterns": ["git *", "ls *"],
        "allowed_domains": ["pypi.org", "*.example.com"],
    }
    assert set(got) == set(AGENT_JSON_KEYS)


def test_agent_json_defaults(tmp_path):
    got = eval_json("import ./nix/agent-json.nix { }", tmp_path)
    assert got == {
        "model": "haiku",
        "allowed_recipients": [],
        "claude_plugins": [],
        "claude_marketplaces": [],
        "extra_mcp_servers": {},
        "allowed_bash_patterns": [],
        "allowed_domains": None,
    }


def test_agent_json_ignores_other_settings(tmp_path):
    # The container module may hand over its whole option set.
    got = eval_json('import ./nix/agent-json.nix { name = "coder"; port = 8412; model = "opus"; }', tmp_path)
    assert set(got) == set(AGENT_JSON_KEYS)
    assert got["model"] == "opus"


def test_options_template_and_renderer_agree(tmp_path):
    # The option names, the renderer's arguments and the template's settings
    # are the same seven, in camelCase; agent.json has them in snake_case.
    expr = """
      let
        options = builtins.attrNames (import ./nix/agent-options.nix { lib = { }; });
        renderer = builtins.attrNames (builtins.functionArgs (import ./nix/agent-json.nix));
        template = builtins.attrNames ((import ./nix/agent-template.nix) { pkgs = { }; }).hyperhive;
      in builtins.toJSON { inherit options renderer template; }
    """
    got = eval_json(expr, tmp_path)
    want = sorted(AGENT_JSON_KEYS.values())
    assert sorted(got["options"]) == want
    assert sorted(got["renderer"]) == want
    assert sorted(got["template"]) == want


def test_template_values_render(tmp_path):
    expr = """
      let t = ((import ./nix/agent-template.nix) { pkgs = { }; }).hyperhive;
      in import ./nix/agent-json.nix t
    """
    got = eval_json(expr, tmp_path)
    assert set(got) == set(AGENT_JSON_KEYS)
    assert got["model"] == "haiku"


def test_flake_outputs(tmp_path):
    # Call the flake's outputs with a stand-in nixpkgs to see its shape.
    expr = """
      let
        flake = import ./flake.nix;
        system = "x86_64-linux";
        stubPkgs = { callPackage = _: _: { type = "derivation"; name = "hyperhive"; }; };
        nixpkgs = {
          lib.genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
          legacyPackages.${system} = stubPkgs;
        };
        self = flake.outputs { inherit self nixpkgs; };
        out = self;
      in builtins.toJSON {
        url = flake.inputs.nixpkgs.url;
        outputs = builtins.attrNames out;
        modules = builtins.attrNames out.nixosModules;
        packages = builtins.attrNames out.packages.${system};
        overlay = builtins.attrNames (out.overlays.default stubPkgs { });
      }
    """
    got = eval_json(expr, tmp_path)
    assert got["url"].startswith("github:NixOS/nixpkgs")
    assert {"packages", "nixosModules", "overlays"} <= set(got["outputs"])
    assert {"default", "agent"} <= set(got["modules"])
    assert "default" in got["packages"]
    assert got["overlay"] == ["hyperhive"]
