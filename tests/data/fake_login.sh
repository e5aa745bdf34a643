#!/bin/sh
# Stands in for `claude auth login` in the page tests: prints a sign-in link, waits for
# the code on stdin, then leaves credentials where claude would and exits 0.
set -eu
echo "Open https://example.invalid/oauth?code=abc to log in"
read -r code
mkdir -p "$CLAUDE_CONFIG_DIR"
printf '{"claudeAiOauth": {"accessToken": "fake-%s"}}\n' "$code" > "$CLAUDE_CONFIG_DIR/.credentials.json"
echo "Login successful"
