"""The benchmark: aoa against a direct call, nginx, LiteLLM and a bare aiohttp proxy.

Run `python -m bench` (full, a few minutes) or `python -m bench --smoke` (seconds); the table
goes to docs/performance.md.
"""
