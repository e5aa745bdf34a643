"""The flake that builds one agent's NixOS container (the nixos backend writes it),
and the operator's extra flake inputs it takes.
"""

import re

# Names the per-agent flake gives its own inputs.
_OWN_INPUTS = ("self", "hyperhive", "config")
_INPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")
MAX_INPUTS = 64


def check_flake_inputs(inputs):
    """HYPERHIVE_FLAKE_INPUTS (input name -> flake URL, which the NixOS module's
    `flakeInputs` writes; settings.py reads its JSON) when every name and URL is one a
    flake can take; ValueError saying what is wrong."""
    if not isinstance(inputs, dict) or len(inputs) > MAX_INPUTS:
        raise ValueError(f"HYPERHIVE_FLAKE_INPUTS must be a JSON object of at most "
                         f"{MAX_INPUTS} input names and flake URLs")
    for name, url in inputs.items():
        if not _INPUT_NAME.match(name) or name in _OWN_INPUTS:
            raise ValueError(f"HYPERHIVE_FLAKE_INPUTS: {name[:64]!r} cannot name an input "
                             f"(letters, digits, _ and -; not {', '.join(_OWN_INPUTS)})")
        if not isinstance(url, str) or not 0 < len(url) <= 1000 or \
                any(ord(c) < 0x20 or ord(c) == 0x7f for c in url):
            raise ValueError(f"HYPERHIVE_FLAKE_INPUTS: the URL of {name!r} must be a "
                             "one-line string of at most 1000 characters")
    return inputs


def nix_string(text):
    """`text` as a Nix string literal: nothing in it is interpolated or ends it."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def agent_flake(spec, hyperhive_flake, flake_inputs=None):
    """The flake that builds one agent's container from its applied repo.

    Settings come from agent.json, as with every backend, and win over the same
    `hyperhive.*` options in agent.nix (`hyperhive.lib.agentSettings` turns agent.json's
    keys into options); agent.nix adds the rest of the container's NixOS configuration
    (packages, services). Every input but `self` reaches agent.nix as the module
    argument `flakeInputs`: the operator's `flakeInputs` (MCP servers, tools) are used
    there as `flakeInputs.<name>.packages.${pkgs.system}.default`. Only committed
    config is built.
    """
    module = '(config + "/agent.nix")' if (spec.config_dir / "agent.nix").exists() else "{ }"
    extra = "".join(f"  inputs.{name}.url = {nix_string(url)};\n"
                    for name, url in sorted((flake_inputs or {}).items()))
    return f"""# Written by the hyperhive host for {spec.name}; rewritten at each start.
{{
  inputs.hyperhive.url = {nix_string(hyperhive_flake)};
  inputs.config = {{ url = {nix_string("git+file://" + str(spec.config_dir))}; flake = false; }};
{extra}
  outputs = {{ self, hyperhive, config, ... }}@inputs:
    let
      settings = hyperhive.lib.agentSettings
        (builtins.fromJSON (builtins.readFile (config + "/agent.json")));
    in {{
      nixosConfigurations.{spec.name} = hyperhive.lib.agentSystem {{
        name = {nix_string(spec.name)};
        manager = {"true" if spec.manager else "false"};
        port = {int(spec.web.rsplit(":", 1)[1])};
        modules = [
          {{ _module.args.flakeInputs = builtins.removeAttrs inputs [ "self" ]; }}
          {module}
          ({{ lib, ... }}: {{
            hyperhive = lib.mapAttrs (_: lib.mkOverride 50) settings;
          }})
        ];
      }};
    }};
}}
"""
