# Render an agent's settings as the `agent.json` every backend reads
# (SPEC §8). A plain function of plain values, so the host module (agent
# defaults), the container module and the tests all share one rendering.
#
#   import ./agent-json.nix { model = "sonnet"; allowedRecipients = [ "operator" ]; }
#
# extraMcpServers entries are { command, args ? [ ], env ? { }, allowedTools ? [ "*" ] };
# each becomes { command, args, env, allowed_tools } under `extra_mcp_servers`.
# agent-settings.nix reads agent.json back into these arguments.
{
  model ? "haiku",
  allowedRecipients ? [ ],
  claudePlugins ? [ ],
  claudeMarketplaces ? [ ],
  extraMcpServers ? { },
  allowedBashPatterns ? [ ],
  allowedDomains ? null,
  cpuQuota ? null,
  memoryMax ? null,
  dailyBudgetUsd ? null,
  # Tolerate whole option sets being passed in (e.g. `config.hyperhive`).
  ...
}:
let
  server = _name: s: {
    command = s.command;
    args = s.args or [ ];
    env = s.env or { };
    allowed_tools = s.allowedTools or [ "*" ];
  };
in
builtins.toJSON {
  inherit model;
  allowed_recipients = allowedRecipients;
  claude_plugins = claudePlugins;
  claude_marketplaces = claudeMarketplaces;
  extra_mcp_servers = builtins.mapAttrs server extraMcpServers;
  allowed_bash_patterns = allowedBashPatterns;
  allowed_domains = allowedDomains;
  cpu_quota = cpuQuota;
  memory_max = memoryMax;
  daily_budget_usd = dailyBudgetUsd;
}
