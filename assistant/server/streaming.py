"""Running one generation for a request: admission, disconnect handling, SSE framing, stats."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from assistant.concurrency import iterate_in_thread
from assistant.errors import AssistantError, InputError
from assistant.models.request import TextRequest, Usage
from assistant.models.text import TextBackend
from assistant.server.admission import ShuttingDown
from assistant.server.engine import Engine
from assistant.server.schemas import Sampling
from assistant.server.text_request import text_request
from assistant.server.wire_errors import error_body
from assistant.types import ChatMessage


@dataclass
class Generation:
    """One reply being produced; its stats are final once the stream ends.

    It continues ``prompt``, or answers ``messages``; with ``picture`` (as the request gave it)
    the vision model answers instead, ``prompt`` being the question.
    """

    engine: Engine
    req: Sampling
    prompt: str = ""
    messages: list[ChatMessage] | None = None
    picture: str | None = None
    text: str = ""
    started: float = field(default_factory=time.perf_counter)
    ended: float = 0.0
    usage: Usage = field(default_factory=Usage)
    asked: TextRequest = field(init=False)  # ``req`` as the text backends take it

    async def pieces(self, request: Request | None = None) -> AsyncIterator[str]:
        """Yield reply pieces; with ``request``, a client that goes away stops the generation.

        Without one (WebSocket, or a caller watching the client itself), cancelling the
        consuming task stops it instead.
        """
        try:
            async with self.engine.hub.using(), self.engine.admission.enter() as slot:
                stream = self._source()
                async with contextlib.aclosing(stream):
                    async for piece in stream:
                        if request is not None and await request.is_disconnected():
                            break
                        self.text += piece
                        yield piece
                        slot.task = asyncio.current_task()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            # Cancelled by the engine's shutdown alone: say so where the reply is consumed.
            if self.engine.admission.stopping and task is not None and task.uncancel() == 0:
                raise ShuttingDown from None
            raise
        finally:  # also when cancelled or timed out: what was generated still counts
            self.ended = time.perf_counter()
            self.engine.metrics.tokens.inc(self.completion_tokens)

    async def started_or_done(self, stream: bool, request: Request) -> AsyncIterator[str] | None:
        """For a stream, its pieces with the first already made; else None once all is done.

        Either way an error before the first piece is raised here, so it becomes an HTTP
        error; a client that goes away, or ``server.request_timeout_s``, stops it.
        """
        if stream:
            return await first_then_rest(self.pieces(request))
        await drain(self.pieces(), self.engine.settings.server.request_timeout_s, request)
        return None

    def __post_init__(self) -> None:
        # A structured output that cannot be had is a 400, before anything.
        self.asked = text_request(self.req, relayed=self.engine.hub.remote)
        if (keep := self.req.keep_alive_s()) is not None:
            self.engine.kept_for = keep
        if self.picture is not None and self.req.relayed_format() is not None:
            raise InputError("structured output (response_format, format) takes no pictures")

    def _source(self) -> AsyncGenerator[str, None]:
        req, engine = self.req, self.engine
        if self.picture is not None:
            seeing = engine.settings.vision
            temperature = seeing.temperature if req.temperature is None else req.temperature
            return engine.see(self.picture, self.prompt, req.max_tokens, temperature, self.usage)
        if self.messages is not None:
            return _chat(engine.hub.text, self.messages, self.asked, self.usage)
        return engine.hub.text.complete(self.prompt, self.asked, self.usage)

    @property
    def model_name(self) -> str:
        """The model that answers."""
        vision = self.engine.hub.loaded_vision
        return vision.name if self.picture is not None and vision else self.engine.hub.name

    @property
    def prompt_tokens(self) -> int:
        """Tokens of the prompt (for a picture, its image tokens included)."""
        return self.usage.prompt()

    @property
    def completion_tokens(self) -> int:
        """Tokens of the reply."""
        return self.usage.completion_tokens

    @property
    def finish_reason(self) -> str:
        """The backend's, else ``length`` when the reply used every allowed token, else ``stop``.

        Only a remote server that names none is judged by the counts.
        """
        if self.usage.finish_reason:
            return self.usage.finish_reason
        limit = self.req.max_tokens
        return "length" if limit is not None and self.completion_tokens >= limit else "stop"

    def stats(self) -> dict[str, Any]:
        """Counts and timings in the reference's field names."""
        seconds = (self.ended or time.perf_counter()) - self.started
        tokens = self.completion_tokens
        return {
            "tokens_generated": tokens,
            "generation_time_ms": round(seconds * 1000),  # whole, as the reference's
            "tokens_per_second": round(tokens / seconds, 2) if seconds > 0 else 0.0,
            "finish_reason": self.finish_reason,
        }


async def _chat(
    text: TextBackend, messages: list[ChatMessage], asked: TextRequest, usage: Usage
) -> AsyncGenerator[str, None]:
    """The reply of a chat model lent by ``text``'s pool, streamed from its thread.

    Leaving early stops it within a token and waits until its thread is done, so the model
    goes back to the pool free, and ``usage`` holds what was generated.
    """
    cancel = threading.Event()
    async with text.pooled_chat() as model:
        stream = iterate_in_thread(
            lambda: model.stream_chat(messages, asked, cancel, usage),
            text.executor,
            cancel=cancel,
            buffer=8,
        )
        async with contextlib.aclosing(stream):
            async for piece in stream:
                yield piece


class RequestTimeout(Exception):
    """A reply took longer than ``server.request_timeout_s``."""


async def drain(pieces: AsyncIterator[str], timeout: float, request: Request) -> None:
    """Consume a whole reply; past ``timeout`` seconds stop generating and raise RequestTimeout.

    A client that hangs up meanwhile stops the generation too, whether it is waiting for a
    slot, loading or generating: nobody would read the answer, and its slot serves the next
    request sooner. An error of the generation is raised here.
    """
    work = asyncio.ensure_future(_consume(pieces))
    watch = asyncio.ensure_future(_hang_up(request))
    try:
        done, _ = await asyncio.wait(
            {work, watch}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        watch.cancel()
        work.cancel()  # nothing when it has finished
        with contextlib.suppress(asyncio.CancelledError):
            await work  # the generation has stopped and its slot is free
    if not done:
        raise RequestTimeout(f"the reply took longer than {timeout:g} s (server.request_timeout_s)")


async def _consume(pieces: AsyncIterator[str]) -> None:
    async for _ in pieces:
        pass


async def _hang_up(request: Request) -> None:
    """Return when the client disconnects (the body has been read: nothing else can come)."""
    try:
        while (await request.receive())["type"] != "http.disconnect":
            pass
    except Exception:  # a channel that fails cannot say the client left: never claim it did
        await asyncio.Event().wait()


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
    events: AsyncIterator[dict[str, Any]],
    done: Callable[[], dict[str, Any] | None] | None = None,
    path: str = "/v1/",
) -> StreamingResponse:
    """Server-sent events: one ``data: {json}`` per event, then ``data: [DONE]``.

    A failure after the first event is an error event in the error shape of ``path``'s API.
    """

    async def body() -> AsyncIterator[str]:
        try:
            async for event in events:
                yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
        except AssistantError as exc:  # too late for an HTTP status: say so in the stream
            shutting = isinstance(exc, ShuttingDown)
            code, status = ("shutting_down", 503) if shutting else ("generation_error", 500)
            _, failure = error_body(path, status, code, str(exc))
            yield f"data: {json.dumps(failure, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"
            return
        final = done() if done else None
        if final is not None:
            yield f"data: {json.dumps(final, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(
        body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
