"""A stdio MCP server with a single `echo` tool, for tool round trips against the real claude CLI."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("echo")


@server.tool(name="echo", description="Return the given text unchanged.", structured_output=False)
def echo(text: str) -> str:
    return f"echo: {text}"


if __name__ == "__main__":
    server.run()
