"""The OpenAI-compatible API, so the official ``openai`` package works unchanged."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request

from assistant.models.names import offered_chat_models
from assistant.server.native import chat_generation, engine_of
from assistant.server.schemas import CompletionRequest, EmbeddingsRequest, OpenAIChatRequest
from assistant.server.streaming import Generation, sse
from assistant.server.tools import parse_call

router = APIRouter(prefix="/v1")


def _usage(gen: Generation) -> dict[str, dict[str, int]]:
    prompt, completion = gen.prompt_tokens, gen.completion_tokens
    counts = {"prompt_tokens": prompt, "completion_tokens": completion}
    return {"usage": counts | {"total_tokens": prompt + completion}}


@router.get("/models")
async def list_models(request: Request) -> dict[str, Any]:
    """The loaded model first, then every chat model that may be loaded by name, OpenAI-style."""
    engine = engine_of(request)
    names = [engine.hub.name] if engine.hub.loaded else []
    if not engine.hub.remote:
        names += [n for n in offered_chat_models(engine.settings) if n not in names]
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "local"} for n in names]
    return {"object": "list", "data": data}


@router.post("/chat/completions")
async def chat_completions(body: OpenAIChatRequest, request: Request) -> Any:
    """Chat completions (``chat.completion.chunk`` events with ``stream: true``).

    ``image_url`` parts (``data:`` URIs) go to the vision model; with ``tools`` a reply may be
    a call (``message.tool_calls``, ``finish_reason: "tool_calls"``).
    """
    engine = engine_of(request)
    gen = chat_generation(engine, body)
    use = body.tool_use()
    pieces = await gen.started_or_done(body.stream, request)
    ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    head = {"id": ident, "created": created, "model": gen.model_name}
    if pieces is not None:
        return sse(_chunks(head, gen, pieces, use is not None, body.include_usage))
    call = parse_call(gen.text) if use is not None else None
    message: dict[str, Any] = {"role": "assistant", "content": gen.text}
    reason = gen.finish_reason
    if call is not None:
        message, reason = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    return {
        **head,
        "object": "chat.completion",
        **_usage(gen),
        "choices": [{"index": 0, "message": message, "finish_reason": reason}],
    }


def _chunk(head: dict[str, Any], delta: dict[str, Any], reason: str | None = None) -> Any:
    choice = {"index": 0, "delta": delta, "finish_reason": reason}
    return {**head, "object": "chat.completion.chunk", "choices": [choice]}


async def _chunks(
    head: dict[str, Any], gen: Generation, pieces: AsyncIterator[str], tools: bool, usage: bool
) -> Any:
    """The stream: content deltas, or a call's deltas once the reply turns out to be one.

    A call opens with ``{`` (the grammar lets words open with anything else), and is held
    until it is whole: its arguments are sent complete.
    """
    yield _chunk(head, {"role": "assistant", "content": ""})
    held: str | None = None  # the call so far, when the reply is one
    async for piece in pieces:
        if held is None and tools and not gen.text[: -len(piece) or None] and piece[:1] == "{":
            held = ""
        if held is None:
            yield _chunk(head, {"content": piece})
        else:
            held += piece
    call = parse_call(held) if held is not None else None
    if held is not None and call is None:  # cut short by max_tokens: send what there is
        yield _chunk(head, {"content": held})
    if call is not None:
        function = call["function"]
        opening = {"index": 0, "id": call["id"], "type": "function"}
        yield _chunk(head, {"tool_calls": [{**opening, "function": {"name": function["name"]}}]})
        arguments = {"index": 0, "function": {"arguments": function["arguments"]}}
        yield _chunk(head, {"tool_calls": [arguments]})
    yield _chunk(head, {}, "tool_calls" if call is not None else gen.finish_reason)
    if usage:
        yield {**head, "object": "chat.completion.chunk", "choices": [], **_usage(gen)}


@router.post("/completions")
async def completions(body: CompletionRequest, request: Request) -> Any:
    """Text completions."""
    engine = engine_of(request)
    gen = Generation(engine, body, body.prompt)
    pieces = await gen.started_or_done(body.stream, request)
    head = {
        "id": f"cmpl-{uuid.uuid4().hex[:24]}",
        "created": int(time.time()),
        "model": engine.hub.name,
        "object": "text_completion",
    }
    if pieces is not None:

        async def chunks() -> Any:
            async for piece in pieces:
                yield {**head, "choices": [{"index": 0, "text": piece, "finish_reason": None}]}
            last = {"index": 0, "text": "", "finish_reason": gen.finish_reason}
            yield {**head, "choices": [last]}
            if body.include_usage:
                yield {**head, "choices": [], **_usage(gen)}

        return sse(chunks())
    return {
        **head,
        **_usage(gen),
        "choices": [{"index": 0, "text": gen.text, "finish_reason": gen.finish_reason}],
    }


@router.post("/embeddings")
async def embeddings(body: EmbeddingsRequest, request: Request) -> dict[str, Any]:
    """Embeddings, OpenAI-style."""
    engine = engine_of(request)
    texts = body.texts(engine.settings.server.max_embedding_inputs)
    await engine.hub.awake()
    vectors, tokens = await engine.hub.text.embed(texts)
    return {
        "object": "list",
        "model": engine.hub.name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        "data": [
            {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
        ],
    }
