"""Request limits: body size and a per-client request rate, both answered in the error shape.

The body limit is checked on the declared length and again on what actually arrives (a chunked
upload declares none); the rate limit is a token bucket per client address.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.server.wire_errors import error_body

_UNLIMITED = {"/health", "/metrics"}
# Characters of text to speak in one request, on every door (HTTP, Wyoming): OpenAI's own limit.
# Long text is spoken in turns with other requests (see ModelHub.speak_stream) in any case.
MAX_SPEECH_CHARS = 4096


async def _refuse(
    scope: Scope, send: Send, status: int, code: str, message: str, retry: int = 0
) -> None:
    status, answer = error_body(scope["path"], status, code, message)
    body = json.dumps(answer).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry:
        headers.append((b"retry-after", str(retry).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413, before the endpoint reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count what actually arrives."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        too_large = f"request bodies are limited to {self.max_bytes} bytes (server.max_body_bytes)"
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _refuse(scope, send, 413, "payload_too_large", too_large)
            return
        if declared is not None:
            await self.app(scope, receive, send)  # the server holds the client to its length
            return
        # No declared length (chunked): take the body in first, up to the limit, then replay it.
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await _refuse(scope, send, 413, "payload_too_large", too_large)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RateLimit:
    """At most ``per_minute`` requests per client address (a token bucket; 0 = no limit)."""

    def __init__(self, app: ASGIApp, per_minute: int) -> None:
        self.app, self.per_minute = app, per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last refill)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Let the request through if the client has a token left."""
        if scope["type"] != "http" or not self.per_minute or scope["path"] in _UNLIMITED:
            await self.app(scope, receive, send)
            return
        client: Any = scope.get("client") or ("?", 0)
        if not self._take(str(client[0])):
            message = f"more than {self.per_minute} requests a minute from this client"
            await _refuse(
                scope, send, 429, "rate_limited", message, retry=max(1, 60 // self.per_minute)
            )
            return
        await self.app(scope, receive, send)

    def _take(self, client: str) -> bool:
        now = time.monotonic()
        tokens, last = self._buckets.get(client, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * self.per_minute / 60)
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            return False
        self._buckets[client] = (tokens - 1, now)
        if len(self._buckets) > 10_000:  # forget idle clients
            self._buckets = {c: v for c, v in self._buckets.items() if now - v[1] < 60}
        return True
