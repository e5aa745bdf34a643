# The inverse of agent-json.nix: a decoded agent.json as `hyperhive.*` option values.
#
#   import ./agent-settings.nix (builtins.fromJSON (builtins.readFile ./agent.json))
#
# The flake the host writes per agent sets these over agent.nix's (agent.json wins,
# as with every backend). A key that is missing or null keeps the option's default;
# keys agent.json may not have are left out (the host refuses them on approval).
# Needs nothing of nixpkgs.
agentJson:
let
  # agent.json key -> option name (nix/agent-options.nix).
  options = {
    model = "model";
    allowed_recipients = "allowedRecipients";
    claude_plugins = "claudePlugins";
    claude_marketplaces = "claudeMarketplaces";
    extra_mcp_servers = "extraMcpServers";
    allowed_bash_patterns = "allowedBashPatterns";
    allowed_domains = "allowedDomains";
    cpu_quota = "cpuQuota";
    memory_max = "memoryMax";
    daily_budget_usd = "dailyBudgetUsd";
  };
  # An MCP server's keys are snake_case in agent.json, camelCase as options.
  server = _name: s: {
    command = s.command;
    args = s.args or [ ];
    env = s.env or { };
    allowedTools = s.allowed_tools or [ "*" ];
  };
  convert = {
    extra_mcp_servers = builtins.mapAttrs server;
  };
  present = builtins.filter (key: agentJson ? ${key} && agentJson.${key} != null) (builtins.attrNames options);
in
builtins.listToAttrs (
  map (key: {
    name = options.${key};
    value = (convert.${key} or (value: value)) agentJson.${key};
  }) present
)
