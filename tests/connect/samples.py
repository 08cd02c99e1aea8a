"""Real-looking files people already have, with comments, unknown keys and their own providers."""

from __future__ import annotations

CODEX = """\
# my codex settings
model = "o3"  # the one I like
approval_policy = "on-request"

[model_providers.ollama]
name = "Ollama"
base_url = "http://localhost:11434/v1"
# keep this comment
wire_api = "responses"

[mcp_servers.docs]
command = "docs-server"
args = ["--port", "9000"]

[tui]
notifications = true
"""

CLAUDE = """\
{
  "permissions": {
    "allow": ["Bash(npm run lint)"],
    "deny": ["Read(./.env)"]
  },
  "env": {
    "ANTHROPIC_API_KEY": "sk-ant-real-upstream-key",
    "BASH_DEFAULT_TIMEOUT_MS": "60000"
  },
  "theme": "dark",
  "futureSetting": {"nested": [1, 2, {"x": null}]}
}
"""

LLM = """\
# models I added by hand
- model_id: my-ollama
  model_name: qwen2.5:3b   # small one
  api_base: http://localhost:11434/v1
  api_key_name: ollama
  unknown_field: kept
"""

CONTINUE = """\
name: My assistant  # mine
version: 0.0.1
schema: v1
models:
  - name: Local Ollama
    provider: ollama
    model: qwen2.5-coder:7b
    roles:
      - autocomplete
context:
  - provider: code
rules:
  - Be brief
"""

SAMPLES = {"codex": CODEX, "claude-code": CLAUDE, "llm": LLM, "continue": CONTINUE}
