# NixOS module for an agent container (`hyperhive.*`).
#
# The container runs `hyperhive agent` (the harness) as a notify service. The
# host bind-mounts the agent's socket directory at /run/hive, its durable dir
# at /state, its claude dir at /claude, its home at /home/agent and the
# harness's own dir at /harness, and shares its network with the container; the
# host serves the agent's page on a host port and passes requests on to the
# harness's page socket. The container has a user namespace
# of its own (the host writes PRIVATE_USERS into its conf file); inside it the
# harness runs as root and starts claude as uid 1000, which owns
# the agent's dirs and cannot write the harness's.
#
# The per-agent settings are rendered to /etc/hyperhive/agent.json, the same
# file the process and nspawn backends keep in the agent's config repo.
# `cpuQuota` and `memoryMax` take effect from outside: the host puts them on the
# container's unit from the applied agent.json.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkIf mkDefault types;
  cfg = config.hyperhive;
  settings = import ./agent-options.nix { inherit lib; };
  # claude's uid and gid inside the container: the host chowns the agent's state,
  # claude and home dirs to this uid of the container's range
  # (CONTAINER_CLAUDE_UID in hyperhive/isolation.py).
  claudeUid = "1000";
  # agent-json.nix takes the settings it knows from the whole option set.
  agentJson = import ./agent-json.nix cfg;
in
{
  options.hyperhive = settings // {
    name = mkOption {
      type = types.strMatching "[a-z][a-z0-9-]{0,8}";
      example = "coder";
      description = "The agent's name (without the container prefix). Defaults to `manager` for the manager.";
    };

    manager = mkOption {
      type = types.bool;
      default = false;
      description = "Whether this container runs the manager (its harness gets the manager's tools).";
    };

    port = mkOption {
      type = types.port;
      example = 8412;
      description = ''
        Port of the agent's web page. The host picks it (8000 for the manager,
        a persisted 8100-8999 slot for the others), serves the page there behind
        the operator's session, and passes requests on to the harness, which
        serves it on /run/hive/page.sock.
      '';
    };

    package = mkOption {
      type = types.package;
      default = pkgs.hyperhive or (pkgs.callPackage ./package.nix { });
      defaultText = lib.literalExpression "pkgs.hyperhive";
      description = "The hyperhive package providing the harness.";
    };

    claudePackage = mkOption {
      type = types.nullOr types.package;
      default = null;
      example = lib.literalExpression "pkgs.claude-code";
      description = ''
        Claude Code package put on the harness's PATH. `pkgs.claude-code` is
        unfree: allow it with `nixpkgs.config.allowUnfreePredicate`.
      '';
    };

    agentJson = mkOption {
      type = types.str;
      readOnly = true;
      default = agentJson;
      description = "The rendered agent.json (read-only; for `nix eval`).";
    };
  };

  config = {
    boot.isNspawnContainer = true;

    hyperhive.name = mkIf cfg.manager (mkDefault "manager");
    hyperhive.port = mkIf cfg.manager (mkDefault 8000);

    assertions = [
      {
        assertion = !(cfg.extraMcpServers ? hyperhive);
        message = "hyperhive.extraMcpServers: the server name `hyperhive` is reserved.";
      }
    ];

    environment.etc."hyperhive/agent.json".text = agentJson;

    environment.systemPackages = [ cfg.package pkgs.git ]
      ++ lib.optional (cfg.claudePackage != null) cfg.claudePackage;

    systemd.services.hyperhive-agent = {
      description = "hyperhive harness (${cfg.name})";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      # /run/current-system/sw: packages an agent adds to
      # environment.systemPackages are visible to claude's Bash tool.
      path = [
        pkgs.git
        pkgs.coreutils
        pkgs.procps
        pkgs.util-linux # setpriv: the harness starts claude as claudeUid
        # claude runs every Bash command inside bubblewrap, its network through socat;
        # without them it refuses to start (sandbox.failIfUnavailable).
        pkgs.bubblewrap
        pkgs.socat
        "/run/current-system/sw"
      ] ++ lib.optional (cfg.claudePackage != null) cfg.claudePackage;
      environment = {
        HOME = "/home/agent";
        CLAUDE_CONFIG_DIR = "/claude";
        USER = cfg.name;
        LOGNAME = cfg.name;
        HYPERHIVE_AGENT_CONFIG = "/etc/hyperhive/agent.json";
        HIVE_LABEL = cfg.name;
      } // lib.optionalAttrs (cfg.claudePackage != null) {
        HYPERHIVE_CLAUDE = "${cfg.claudePackage}/bin/claude";
      };
      # A settings change reaches the harness through a restart.
      restartTriggers = [ agentJson ];
      serviceConfig = {
        Type = "notify";
        NotifyAccess = "main";
        WatchdogSec = "30s";
        Restart = "always";
        RestartSec = "2s";
        KillMode = "mixed";
        TimeoutStopSec = "30s";
        ExecStart = lib.escapeShellArgs (
          [ "${cfg.package}/bin/hyperhive" "agent" "--name" cfg.name ]
          ++ lib.optional cfg.manager "--manager"
          ++ [
            "--hive-dir" "/run/hive"
            "--state-dir" "/state"
            "--harness-dir" "/harness"
            "--claude-ids" "${claudeUid}:${claudeUid}"
            "--web" "/run/hive/page.sock"
          ]
        );
      };
    };
  };
}
