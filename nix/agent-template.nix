# agent.nix: this agent's configuration.
#
# A NixOS module for the agent's container. The manager edits it in the
# agent's config repo and asks for the change with request_apply_commit;
# the operator approves it, then the container is rebuilt with it.
# The `hyperhive.*` settings below become /etc/hyperhive/agent.json inside the
# container. Everything else a NixOS module can do works here too.
{ pkgs, ... }:
{
  # Model the agent starts with (haiku, sonnet, opus, or a full model id).
  # A model chosen on the agent's page overrides it until changed again.
  hyperhive.model = "haiku";

  # Who this agent may message. [ ] means anyone; the manager is always
  # allowed. Add "operator" to let it write to the dashboard inbox.
  hyperhive.allowedRecipients = [ ];

  # Claude Code plugins to install at start, e.g.
  #   [ "commit-commands@claude-plugins-official" ]
  hyperhive.claudePlugins = [ ];

  # Plugin marketplaces to add first (URL, path or "github:owner/repo").
  hyperhive.claudeMarketplaces = [ ];

  # Extra stdio MCP servers for claude, e.g.
  #   fetch = {
  #     command = "${pkgs.mcp-server-fetch}/bin/mcp-server-fetch";
  #     args = [ ];
  #     env = { };
  #     allowedTools = [ "*" ];
  #   };
  hyperhive.extraMcpServers = { };

  # Limit claude's Bash tool to these patterns, e.g. [ "git *" "ls *" ].
  # [ ] leaves Bash unrestricted.
  hyperhive.allowedBashPatterns = [ ];

  # Domains claude's Bash may reach (it runs sandboxed, with no other network).
  # null: the default list (code forges and package registries); [ ]: none.
  # e.g. [ "pypi.org" "files.pythonhosted.org" "*.example.com" ]
  hyperhive.allowedDomains = null;

  # CPU and memory the host lets the container use (systemd's CPUQuota= and
  # MemoryMax=), e.g. "200%" (two CPUs) and "4G". null: no limit.
  hyperhive.cpuQuota = null;
  hyperhive.memoryMax = null;

  # US dollars the agent may spend a day before the host holds its messages, e.g. 5.
  # null: the host's HYPERHIVE_DAILY_BUDGET_USD, or none.
  hyperhive.dailyBudgetUsd = null;

  # Programs the agent can run from Bash.
  environment.systemPackages = with pkgs; [
    git
    curl
    jq
  ];
}
