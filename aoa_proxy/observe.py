"""What the usage history and the metrics both read of a finished request.

Both listen on `Runtime.record` (the middleware calls it once per API request, after the
answer is out); this module holds the little they share: which front door a request came
through, and whether it is one they count (model calls, not listings or stored-response reads).
"""

from __future__ import annotations

from typing import Final

from aoa_proxy.runtime import RequestRecord

# POST paths -> the front door's name (the client dialect); anything else is not counted.
DOORS: Final = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "count_tokens",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
}


def door_of(rec: RequestRecord) -> str | None:
    """The front door of a model call, or None for a request neither history nor metrics count."""
    if rec.method != "POST":
        return None
    return DOORS.get(rec.path)
