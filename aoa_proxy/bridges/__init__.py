"""Bridges: a client dialect -> chat (the hub every provider speaks) -> the client's dialect.

Pure translation, like the providers: dicts in, dicts out, no sockets and no aiohttp, so each
bridge is tested with plain data. A stream is a small state machine per request (`feed(chunk) ->
events`, `finish() -> events`, `fail(error) -> events`) that keeps all index bookkeeping in one
place. What cannot map is a RequestError naming the field, never a silent change of meaning.

    responses   OpenAI Responses API (POST /v1/responses) <-> chat completions
    chat_responses  the other way round, for Azure deployments that serve only Responses
"""
