{
  description = "hyperhive: a swarm of Claude Code agents on one Linux host, each in its own container";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      packageFor = pkgs: pkgs.hyperhive or (pkgs.callPackage ./nix/package.nix { });
    in
    {
      packages = forAllSystems (pkgs: {
        default = pkgs.callPackage ./nix/package.nix { };
      });

      overlays.default = final: prev: {
        hyperhive = final.callPackage ./nix/package.nix { };
      };

      # Host: services.hyperhive.*
      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nix/host.nix ];
          services.hyperhive.package = lib.mkDefault (packageFor pkgs);
          services.hyperhive.flake = lib.mkDefault self;
        };

      # Agent container: hyperhive.*, to be combined with the agent's agent.nix.
      nixosModules.agent =
        { lib, pkgs, ... }:
        {
          imports = [ ./nix/agent.nix ];
          hyperhive.package = lib.mkDefault (packageFor pkgs);
        };

      # agent.json (decoded) as `hyperhive.*` option values; the per-agent flake the
      # host writes sets them over agent.nix's.
      lib.agentSettings = import ./nix/agent-settings.nix;

      # A whole agent container system, as a per-agent flake would declare it:
      #   nixosConfigurations.coder = hyperhive.lib.agentSystem {
      #     name = "coder"; port = 8412; modules = [ ./agent.nix ];
      #   };
      # claude-code (unfree) is allowed inside this container only.
      lib.agentSystem =
        {
          name,
          port ? null,
          manager ? false,
          modules ? [ ],
          system ? "x86_64-linux",
          withClaude ? true,
        }:
        nixpkgs.lib.nixosSystem {
          modules = [
            self.nixosModules.agent
            (
              { lib, pkgs, ... }:
              {
                nixpkgs.hostPlatform = lib.mkDefault system;
                system.stateVersion = lib.mkDefault "25.05";
                hyperhive = {
                  inherit name manager;
                  port = lib.mkIf (port != null) port;
                  claudePackage = lib.mkIf withClaude (lib.mkDefault pkgs.claude-code);
                };
                nixpkgs.config.allowUnfreePredicate = lib.mkIf withClaude (pkg: lib.getName pkg == "claude-code");
              }
            )
          ] ++ modules;
        };
    };
}
