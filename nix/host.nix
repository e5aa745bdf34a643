# NixOS module for the host daemon (`services.hyperhive.*`).
#
# Runs `hyperhive host` as a notify service with a watchdog. The daemon keeps
# its database and the agents' repos and state under /var/lib/hyperhive and
# its sockets under /run/hyperhive (kept across restarts so running
# containers keep their bind-mounted socket directories).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf mkDefault types;
  cfg = config.services.hyperhive;
  defaultStateDir = "/var/lib/hyperhive";
  settings = import ./agent-options.nix { inherit lib; };
  agentDefaultsJson = import ./agent-json.nix cfg.agentDefaults;
  # The per-agent flake names these inputs itself (HYPERHIVE_FLAKE_INPUTS may not).
  ownInputs = [ "self" "hyperhive" "config" ];
in
{
  options.services.hyperhive = {
    enable = mkEnableOption "the hyperhive host daemon (broker, dashboard, agent containers)";

    package = mkOption {
      type = types.package;
      default = pkgs.hyperhive or (pkgs.callPackage ./package.nix { });
      defaultText = lib.literalExpression "pkgs.hyperhive";
      description = "The hyperhive package.";
    };

    dashboardPort = mkOption {
      type = types.port;
      default = 7000;
      description = "Port of the operator's dashboard.";
    };

    bind = mkOption {
      type = types.str;
      default = "127.0.0.1";
      example = "0.0.0.0";
      description = "Address the dashboard listens on. It has no login of its own: keep it local or put a proxy in front.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the dashboard port in the firewall.";
    };

    backend = mkOption {
      type = types.enum [ "process" "nspawn" "nixos" ];
      default = "nixos";
      description = ''
        How agents are run: `process` (child processes of the daemon),
        `nspawn` (systemd-nspawn containers) or `nixos` (nixos-container,
        each agent's configuration built from its `agent.nix`).
      '';
    };

    stateDir = mkOption {
      type = types.strMatching "/.*";
      default = defaultStateDir;
      description = ''
        Where the broker database, the agents' config repos, state and claude
        credentials live. Another location is linked to ${defaultStateDir}.
      '';
    };

    adminUsers = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "alice" ];
      description = ''
        Users added to the `hive-admin` group, which may use the admin socket
        (/run/hyperhive/host.sock) and so `hyperhive ctl`. That is full control
        of the hive: spawning agents, approving config changes, messaging as
        the operator.
      '';
    };

    agentDefaults = mkOption {
      type = types.submodule { options = settings; };
      default = { };
      description = ''
        Settings every agent the host creates starts with (its initial agent.json,
        the manager's too), written to /etc/hyperhive/agent-defaults.json, which
        the daemon reads at start (HYPERHIVE_AGENT_DEFAULTS). Agents that exist
        keep their own agent.json.
      '';
    };

    claudePackage = mkOption {
      type = types.nullOr types.package;
      default = null;
      example = lib.literalExpression "pkgs.claude-code";
      description = ''
        Claude Code package the daemon hands to agents it runs itself (the
        `process` backend) via `--claude-bin`. `pkgs.claude-code` is unfree:
        allow it with `nixpkgs.config.allowUnfreePredicate`. Containers get
        claude from their own configuration (`hyperhive.claudePackage`).
      '';
    };

    flake = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = ''
        Source of the hyperhive flake, passed to the daemon as
        HYPERHIVE_FLAKE so the `nixos` backend can build agent containers
        from its `nixosModules.agent`. Set by the flake's host module.
      '';
    };

    flakeInputs = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = { mcp-matrix = "github:owner/mcp-matrix"; };
      description = ''
        Extra flake inputs (name = flake URL) of every agent's container flake
        (the `nixos` backend). They reach the agent's `agent.nix` as the module
        argument `flakeInputs`, next to `hyperhive`:
        `{ pkgs, flakeInputs, ... }: { environment.systemPackages =
        [ flakeInputs.mcp-matrix.packages.''${pkgs.system}.default ]; }`.
        Passed to the daemon as HYPERHIVE_FLAKE_INPUTS.
      '';
    };

    extraEnvironment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = { ANTHROPIC_BASE_URL = "http://127.0.0.1:8080"; };
      description = "Extra environment variables for the daemon (and, with the process backend, its agents).";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = !(cfg.agentDefaults.extraMcpServers ? hyperhive);
        message = "services.hyperhive.agentDefaults.extraMcpServers: the server name `hyperhive` is reserved.";
      }
      {
        assertion = lib.all (name: !(lib.elem name ownInputs)) (lib.attrNames cfg.flakeInputs);
        message = "services.hyperhive.flakeInputs: ${lib.concatStringsSep ", " ownInputs} are the agent flake's own inputs.";
      }
    ];

    users.groups.hive-admin.members = cfg.adminUsers;

    environment.systemPackages = [ cfg.package ];

    environment.etc."hyperhive/agent-defaults.json".text = agentDefaultsJson;

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall [ cfg.dashboardPort ];

    # nixos-container needs the container machinery and builds from flakes.
    boot.enableContainers = mkIf (cfg.backend == "nixos") (mkDefault true);
    nix.settings.experimental-features = mkIf (cfg.backend == "nixos") [ "nix-command" "flakes" ];

    systemd.tmpfiles.rules = mkIf (cfg.stateDir != defaultStateDir) [
      "d ${cfg.stateDir} 0711 root root - -"
      "L+ ${defaultStateDir} - - - - ${cfg.stateDir}"
    ];

    systemd.services.hyperhive = {
      description = "hyperhive host daemon";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ] ++ lib.optional (cfg.backend == "nixos") "nix-daemon.service";
      path = [
        pkgs.git
        pkgs.nixos-container
        config.nix.package
        config.systemd.package
        "/run/current-system/sw"
      ] ++ lib.optional (cfg.claudePackage != null) cfg.claudePackage;
      environment = {
        HYPERHIVE_GIT = "${pkgs.git}/bin/git";
        HYPERHIVE_AGENT_DEFAULTS = "/etc/hyperhive/agent-defaults.json";
      } // lib.optionalAttrs (cfg.flake != null) {
        HYPERHIVE_FLAKE = "${cfg.flake}";
      } // lib.optionalAttrs (cfg.flakeInputs != { }) {
        HYPERHIVE_FLAKE_INPUTS = builtins.toJSON cfg.flakeInputs;
      } // cfg.extraEnvironment;
      serviceConfig = {
        Type = "notify";
        NotifyAccess = "main";
        WatchdogSec = "30s";
        Restart = "on-failure";
        RestartSec = "5s";
        ExecStart = lib.escapeShellArgs (
          [
            "${cfg.package}/bin/hyperhive" "host"
            "--backend" cfg.backend
            "--dashboard-port" (toString cfg.dashboardPort)
            "--bind" cfg.bind
          ]
          ++ lib.optionals (cfg.claudePackage != null) [
            "--claude-bin" "${cfg.claudePackage}/bin/claude"
          ]
        );
        # /run/hyperhive holds the sockets bind-mounted into running
        # containers; keep it when the daemon restarts. 0711 (and the state
        # dir's too): an agent's uid may traverse to its own dirs and sockets
        # but list nothing; the host keeps everything else root-only.
        RuntimeDirectory = "hyperhive";
        RuntimeDirectoryPreserve = "yes";
        RuntimeDirectoryMode = "0711";
        StateDirectory = mkIf (cfg.stateDir == defaultStateDir) "hyperhive";
        StateDirectoryMode = mkIf (cfg.stateDir == defaultStateDir) "0711";
        UMask = "0077";
        # Every agent holds a few sockets and may open up to its per-socket cap more;
        # the host must not run out of descriptors before one agent reaches its cap.
        LimitNOFILE = 65536;
        # SIGTERM to the daemon only: it drains and stops its own children;
        # whatever is left after the timeout is killed.
        KillMode = "mixed";
        TimeoutStopSec = "90s";
      };
    };
  };
}
