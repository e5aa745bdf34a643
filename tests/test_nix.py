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
    "cpu_quota": "cpuQuota",
    "memory_max": "memoryMax",
    "daily_budget_usd": "dailyBudgetUsd",
}

EXPECTED_FILES = {
    "flake.nix",
    "nix/package.nix",
    "nix/host.nix",
    "nix/agent.nix",
    "nix/agent-json.nix",
    "nix/agent-options.nix",
    "nix/agent-template.nix",
    "nix/agent-settings.nix",
    "nix/vendor.json",
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
    present = {str(f.relative_to(ROOT)) for f in [*nix_files(), *NIX_DIR.iterdir()]}
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
        cpuQuota = "200%";
        memoryMax = "4G";
        dailyBudgetUsd = 12.5;
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
        "cpu_quota": "200%",
        "memory_max": "4G",
        "daily_budget_usd": 12.5,
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
        "cpu_quota": None,
        "memory_max": None,
        "daily_budget_usd": None,
    }


def test_agent_json_ignores_other_settings(tmp_path):
    # The container module may hand over its whole option set.
    got = eval_json('import ./nix/agent-json.nix { name = "coder"; port = 8412; model = "opus"; }', tmp_path)
    assert set(got) == set(AGENT_JSON_KEYS)
    assert got["model"] == "opus"


def test_options_template_and_renderer_agree(tmp_path):
    # The option names, the renderer's arguments and the template's settings
    # are the same, in camelCase; agent.json has them in snake_case.
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


# Enough of nixpkgs' lib for agent-options.nix to show its options' names and types.
STUB_LIB = """{
  mkOption = o: o;
  literalExpression = t: t;
  types = {
    str = "str";
    listOf = t: { listOf = t; };
    attrsOf = t: { attrsOf = t; };
    nullOr = t: { nullOr = t; };
    strMatching = re: { strMatching = re; };
    submodule = m: { submodule = m.options; };
    numbers = { positive = "positive"; };
  };
}"""


def test_agent_json_keys_and_nix_options_map_both_ways(tmp_path):
    # Every key check_config accepts has an option that agent-json.nix renders as that
    # key, and every option renders a key check_config accepts: each option is given a
    # value naming it, and the rendered agent.json must hold it under its own key.
    from hyperhive import agentconfig
    expr = f"""
      let
        options = import ./nix/agent-options.nix {{ lib = {STUB_LIB}; }};
        marked = builtins.mapAttrs (name: _:
          if name == "extraMcpServers" then {{ marker = {{ command = name; }}; }} else name) options;
      in import ./nix/agent-json.nix marked
    """
    rendered = eval_json(expr, tmp_path)
    found = {key: (value["marker"]["command"] if key == "extra_mcp_servers" else value)
             for key, value in rendered.items()}
    assert found == AGENT_JSON_KEYS
    assert set(found) == set(agentconfig.SETTINGS)


def test_an_mcp_servers_options_are_the_keys_check_config_accepts(tmp_path):
    from hyperhive import agentconfig
    expr = f"""
      builtins.toJSON (builtins.attrNames
        (import ./nix/agent-options.nix {{ lib = {STUB_LIB}; }}).extraMcpServers.type.attrsOf.submodule)
    """
    options = eval_json(expr, tmp_path)
    snake = {"command": "command", "args": "args", "env": "env", "allowedTools": "allowed_tools"}
    assert sorted(snake) == sorted(options)
    assert sorted(snake.values()) == sorted(agentconfig.SERVER_KEYS)


def test_agent_settings_reads_back_what_agent_json_renders(tmp_path):
    # agent-settings.nix (agent.json -> options, used by the per-agent flake) is the
    # inverse of agent-json.nix, MCP servers' allowed_tools included.
    given = """{
      model = "sonnet";
      allowedRecipients = [ "operator" ];
      claudePlugins = [ "p@m" ];
      claudeMarketplaces = [ "github:o/r" ];
      extraMcpServers.fetch = { command = "/bin/fetch"; args = [ "-q" ]; env.A = "1"; allowedTools = [ "fetch" ]; };
      allowedBashPatterns = [ "git *" ];
      allowedDomains = [ "pypi.org" ];
      cpuQuota = "50%";
      memoryMax = "512M";
      dailyBudgetUsd = 2.5;
    }"""
    expr = f"""
      let
        given = {given};
        back = import ./nix/agent-settings.nix (builtins.fromJSON (import ./nix/agent-json.nix given));
      in builtins.toJSON {{ inherit given back; }}
    """
    got = eval_json(expr, tmp_path)
    assert got["back"] == got["given"]
    # null and missing keys keep the options' defaults; unknown keys are left out
    got = eval_json('builtins.toJSON (import ./nix/agent-settings.nix '
                    '{ model = "opus"; allowed_domains = null; color = "red"; })', tmp_path)
    assert got == {"model": "opus"}


@pytest.mark.parametrize("value", ["1%", "50%", "200%", "6400%", "0%", "50", "2G", "50 %", "-5%",
                                   "99999%", "x%"])
def test_the_cpu_quota_option_takes_what_check_config_takes(value, tmp_path):
    from hyperhive import limits
    host_accepts = limits.cpu_quota_problem(value) is None
    option_accepts = option_matches("cpuQuota", value, tmp_path)
    # the option may be looser (the host checks bounds), never stricter
    assert option_accepts or not host_accepts
    assert option_accepts == bool(__import__("re").fullmatch(r"[1-9][0-9]{0,3}%", value))


@pytest.mark.parametrize("value", ["32M", "512M", "2G", "16T", "50%", "100%", "1K", "2g", "2GB",
                                   "0G", "200%", " 2G", "2G\n"])
def test_the_memory_max_option_takes_what_check_config_takes(value, tmp_path):
    from hyperhive import limits
    host_accepts = limits.memory_max_problem(value) is None
    assert option_matches("memoryMax", value, tmp_path) or not host_accepts


def option_matches(option, value, tmp_path):
    expr = f"""
      let o = (import ./nix/agent-options.nix {{ lib = {STUB_LIB}; }}).{option};
      in builtins.toJSON (builtins.match o.type.nullOr.strMatching {json.dumps(value)} != null)
    """
    return eval_json(expr, tmp_path)


def test_the_host_unit_allows_enough_open_files():
    text = (NIX_DIR / "host.nix").read_text()
    assert "LimitNOFILE = 65536;" in text


# Enough of nixpkgs for package.nix: buildPythonApplication and fetchurl return their
# arguments, so the test sees what the package would fetch and run.
PACKAGE_EXPR = """
  let
    lib = rec {
      mapAttrsToList = f: set: map (n: f n set.${n}) (builtins.attrNames set);
      concatMapStrings = f: list: builtins.concatStringsSep "" (map f list);
      concatStrings = builtins.concatStringsSep "";
      concatMap = builtins.concatMap;
      attrValues = builtins.attrValues;
      escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\\\''" ] s + "'";
      escapeShellArgs = list: builtins.concatStringsSep " " (map escapeShellArg list);
      optionals = cond: list: if cond then list else [ ];
      hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
      findFirst = pred: default: list:
        let found = builtins.filter pred list; in if found == [ ] then default else builtins.head found;
      splitString = sep: s: builtins.filter builtins.isString (builtins.split sep s);
      toLower = s: s;
      platforms.linux = [ ];
    };
    python3Packages = {
      python.sitePackages = "lib/python3/site-packages";
      buildPythonApplication = args: args;
      setuptools = "setuptools";
      bottle = "bottle"; gevent = "gevent"; peewee = "peewee"; orjson = "orjson"; sdnotify = "sdnotify";
      systemd-python = "systemd-python"; mcp = "mcp"; psycogreen = "psycogreen";
      psycopg2 = "psycopg2";
    };
    fetchurl = args: args // { outPath = "/nix/store/" + baseNameOf args.url; };
  in import ./nix/package.nix { inherit lib python3Packages fetchurl; src = "source"; }
"""


def vendor_pins():
    return json.loads((NIX_DIR / "vendor.json").read_text())


def npm_tarballs(tmp_path):
    """The npm tarballs of the pinned libraries, as `npm pack` fetches them (its cache
    or the registry); {package: path}."""
    specs = [f"{v['package']}@{v['version']}" for v in vendor_pins().values()]
    proc = subprocess.run(["npm", "pack", "--json", "--pack-destination", str(tmp_path), *specs],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return {entry["name"]: tmp_path / entry["filename"] for entry in json.loads(proc.stdout)}


def test_the_package_fetches_the_pinned_npm_tarballs_into_static_vendor(tmp_path):
    got = eval_json(f"builtins.toJSON ({PACKAGE_EXPR})", tmp_path)
    pins = vendor_pins()
    for pin in pins.values():
        url = (f"https://registry.npmjs.org/{pin['package']}/-/"
               f"{pin['package'].rsplit('/', 1)[-1]}-{pin['version']}.tgz")
        tarball = f"/nix/store/{url.rsplit('/', 1)[-1]}"
        assert f"tar -xzf {tarball} " in got["postPatch"]
        for src, dest in pin["files"].items():
            assert f'cp "$TMPDIR/vendored/package/{src}" static/vendor/\'{dest}\'' in \
                got["postPatch"]
            assert f"'{dest}'" in got["postInstall"]
    # the console script is the program; nothing points at a static dir of its own
    assert got["meta"]["mainProgram"] == "hyperhive"
    assert "HYPERHIVE_STATIC" not in json.dumps(got)


def test_the_pinned_hashes_are_those_of_the_npm_tarballs_dev_fetches(tmp_path):
    import base64
    import hashlib
    import tarfile
    tarballs = npm_tarballs(tmp_path)
    vendor = ROOT / "static" / "vendor"
    for pin in vendor_pins().values():
        data = tarballs[pin["package"]].read_bytes()
        assert pin["hash"] == "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()
        with tarfile.open(tarballs[pin["package"]]) as tar:
            for src, dest in pin["files"].items():
                packed = tar.extractfile(f"package/{src}").read()
                if (vendor / dest).exists():     # what ./dev put there is the same file
                    assert (vendor / dest).read_bytes() == packed, dest


def test_dev_takes_its_versions_from_the_same_file():
    text = (ROOT / "dev").read_text()
    assert "nix/vendor.json" in text
    for pin in vendor_pins().values():
        assert pin["version"] not in text, f"./dev names {pin['package']}'s version itself"
    plan = subprocess.run(
        ["bash", "-c", 'PYTHON=/usr/bin/python3; VENDOR_JSON=nix/vendor.json; '
         'eval "$(sed -n "/^vendor_plan() {/,/^}/p" dev)"; vendor_plan'],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    assert plan == [" ".join([p["package"], p["version"], *(f"{s}:{d}" for s, d in p["files"].items())])
                    for p in vendor_pins().values()]
