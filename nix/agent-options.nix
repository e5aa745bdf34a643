# The per-agent settings as NixOS options. Shared by the container module
# (`hyperhive.*`) and the host module (`services.hyperhive.agentDefaults.*`),
# so both describe exactly the keys of agent.json.
{ lib }:
let
  inherit (lib) mkOption types;

  mcpServer = types.submodule {
    options = {
      command = mkOption {
        type = types.str;
        description = "Program that speaks MCP on stdio.";
        example = "/run/current-system/sw/bin/mcp-server-fetch";
      };
      args = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Arguments passed to the command.";
      };
      env = mkOption {
        type = types.attrsOf types.str;
        default = { };
        description = "Extra environment for the server process.";
      };
      allowedTools = mkOption {
        type = types.listOf types.str;
        default = [ "*" ];
        description = ''
          Tool name patterns of this server that claude may call without asking;
          `"*"` allows every tool (`mcp__<server>__*`).
        '';
      };
    };
  };
in
{
  model = mkOption {
    type = types.str;
    default = "haiku";
    example = "sonnet";
    description = ''
      Model the agent starts with. The operator can switch it on the agent's page;
      that choice is kept in /state/hyperhive-model and wins over this default.
    '';
  };

  allowedRecipients = mkOption {
    type = types.listOf types.str;
    default = [ ];
    example = [ "operator" "coder" ];
    description = ''
      Who the agent may send messages to. Empty means anyone. The manager is
      always allowed; list `operator` for output meant for the dashboard.
      Enforced by the host broker.
    '';
  };

  claudePlugins = mkOption {
    type = types.listOf types.str;
    default = [ ];
    example = [ "commit-commands@claude-plugins-official" ];
    description = "Claude Code plugins installed when the harness starts (failures are reported, not fatal).";
  };

  claudeMarketplaces = mkOption {
    type = types.listOf types.str;
    default = [ ];
    example = [ "github:owner/repo" ];
    description = "Plugin marketplaces (URL, path or github:owner/repo) added before plugins are installed.";
  };

  extraMcpServers = mkOption {
    type = types.attrsOf mcpServer;
    default = { };
    example = lib.literalExpression ''
      {
        fetch = {
          command = "''${pkgs.mcp-server-fetch}/bin/mcp-server-fetch";
          allowedTools = [ "fetch" ];
        };
      }
    '';
    description = ''
      Additional stdio MCP servers handed to claude next to `hyperhive`.
      The name `hyperhive` is reserved.
    '';
  };

  allowedBashPatterns = mkOption {
    type = types.listOf types.str;
    default = [ ];
    example = [ "git *" "ls *" ];
    description = ''
      Restrict the Bash tool to these command patterns (`Bash(git *)`, ...).
      Empty allows Bash as a whole.
    '';
  };

  allowedDomains = mkOption {
    type = types.nullOr (types.listOf types.str);
    default = null;
    example = [ "pypi.org" "files.pythonhosted.org" "*.example.com" ];
    description = ''
      Domains the agent's Bash commands may reach; they run in Claude Code's
      sandbox, which has no other network. `null` means hyperhive's default
      list (code forges and package registries), `[ ]` no network at all.
      No IP addresses, `localhost` or local-network names.
    '';
  };

  cpuQuota = mkOption {
    type = types.nullOr (types.strMatching "[1-9][0-9]{0,3}%");
    default = null;
    example = "200%";
    description = ''
      CPU time the agent may use, in percent of one CPU (`"200%"`: two CPUs' worth;
      1% to 6400%). Applied by the host as systemd's `CPUQuota=` on the unit that
      holds the agent (the container's `container@h-<name>.service`). `null`: no limit.
    '';
  };

  memoryMax = mkOption {
    type = types.nullOr (types.strMatching "[1-9][0-9]{0,7}[KMGT]|[1-9][0-9]{0,2}%");
    default = null;
    example = "2G";
    description = ''
      Memory the agent may use (`"512M"`, `"2G"`: 32M to 16T; or a percentage of the
      host's). Applied by the host as systemd's `MemoryMax=`, like `cpuQuota`. `null`:
      no limit.
    '';
  };

  dailyBudgetUsd = mkOption {
    type = types.nullOr types.numbers.positive;
    default = null;
    example = 5;
    description = ''
      US dollars the agent may spend a day (its turns' costs as claude reports them).
      Once its spend today reaches it, the host hands it no more messages until the
      operator raises or lifts the budget, or the host's local day ends. `null`: the
      host's `HYPERHIVE_DAILY_BUDGET_USD`, or no budget.
    '';
  };
}
