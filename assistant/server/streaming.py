"""Running one generation for a request: admission, disconnect handling, SSE framing, stats."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from assistant.server.engine import Engine
from assistant.server.schemas import Sampling


@dataclass
class Generation:
    """One reply being produced; its stats are final once the stream ends."""

    engine: Engine
    prompt: str
    req: Sampling
    text: str = ""
    started: float = field(default_factory=time.perf_counter)
    ended: float = 0.0
    _completion_tokens: int | None = None  # counted once, when the stream ends

    async def pieces(self, request: Request | None = None) -> AsyncIterator[str]:
        """Yield reply pieces; an HTTP client that goes away cancels the generation.

        Without a request (WebSocket), cancelling the consuming task stops it instead.
        """
        model = self.engine.model
        try:
            async with self.engine.admission():
                stream = model.generate_stream(
                    self.prompt, self.req.max_tokens, self.req.params(), self.req.stops()
                )
                async with contextlib.aclosing(stream):
                    async for piece in stream:
                        if request is not None and await request.is_disconnected():
                            break
                        self.text += piece
                        yield piece
        finally:  # also when cancelled or timed out: what was generated still counts
            self.ended = time.perf_counter()
            self.engine.metrics.tokens.inc(self.completion_tokens)

    @property
    def prompt_tokens(self) -> int:
        """Tokens of the prompt."""
        return len(self.engine.model.model.tokenize(self.prompt, special=True))

    @property
    def completion_tokens(self) -> int:
        """Tokens of the reply (tokenised once the stream has ended, every time before)."""
        if self._completion_tokens is not None:
            return self._completion_tokens
        count = len(self.engine.model.model.tokenize(self.text, add_bos=False)) if self.text else 0
        if self.ended:
            self._completion_tokens = count
        return count

    @property
    def finish_reason(self) -> str:
        """``length`` when the reply used every allowed token, else ``stop``."""
        return "length" if self.completion_tokens >= self.req.max_tokens else "stop"

    def stats(self) -> dict[str, Any]:
        """Counts and timings in the reference's field names."""
        seconds = (self.ended or time.perf_counter()) - self.started
        tokens = self.completion_tokens
        return {
            "tokens_generated": tokens,
            "generation_time_ms": round(seconds * 1000, 1),
            "tokens_per_second": round(tokens / seconds, 2) if seconds > 0 else 0.0,
            "finish_reason": self.finish_reason,
        }


class RequestTimeout(Exception):
    """A reply took longer than ``server.request_timeout_s``."""


async def drain(pieces: AsyncIterator[str], timeout: float) -> None:
    """Consume a whole reply; past ``timeout`` seconds stop generating and raise RequestTimeout."""

    async def consume() -> None:
        async for _ in pieces:
            pass

    try:
        await asyncio.wait_for(consume(), timeout)
    except TimeoutError:
        raise RequestTimeout(
            f"the reply took longer than {timeout:g} s (server.request_timeout_s)"
        ) from None


async def first_then_rest(pieces: AsyncIterator[str]) -> AsyncIterator[str]:
    """Start the stream now, so an error before the first piece becomes a proper HTTP error."""
    first = await anext(pieces, None)

    async def rest() -> AsyncIterator[str]:
        if first is not None:
            yield first
        async for piece in pieces:
            yield piece

    return rest()


def sse(
    events: AsyncIterator[dict[str, Any]], done: Callable[[], dict[str, Any] | None] | None = None
) -> StreamingResponse:
    """Server-sent events: one ``data: {json}`` per event, then ``data: [DONE]``."""

    async def body() -> AsyncIterator[str]:
        async for event in events:
            yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
        final = done() if done else None
        if final is not None:
            yield f"data: {json.dumps(final, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(
        body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
