"""The OpenAI-compatible API, so the official ``openai`` package works unchanged."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter, Request

from assistant.server.native import chat_generation, engine_of
from assistant.server.schemas import ChatRequest, CompletionRequest, EmbeddingsRequest
from assistant.server.streaming import Generation, sse

router = APIRouter(prefix="/v1")


def _usage(gen: Generation) -> dict[str, dict[str, int]]:
    prompt, completion = gen.prompt_tokens, gen.completion_tokens
    counts = {"prompt_tokens": prompt, "completion_tokens": completion}
    return {"usage": counts | {"total_tokens": prompt + completion}}


@router.get("/models")
async def list_models(request: Request) -> dict[str, Any]:
    """The loaded model, OpenAI-style (none while unloaded)."""
    engine = engine_of(request)
    model = {"id": engine.hub.name, "object": "model", "created": 0, "owned_by": "local"}
    return {"object": "list", "data": [model] if engine.hub.loaded else []}


@router.post("/chat/completions")
async def chat_completions(body: ChatRequest, request: Request) -> Any:
    """Chat completions (``chat.completion.chunk`` events with ``stream: true``).

    ``image_url`` parts (``data:`` URIs) go to the vision model.
    """
    engine = engine_of(request)
    gen = chat_generation(engine, body)
    pieces = await gen.started_or_done(body.stream, request)
    ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    head = {"id": ident, "created": created, "model": gen.model_name}
    if pieces is not None:

        async def chunks() -> Any:
            yield {
                **head,
                "object": "chat.completion.chunk",
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ],
            }
            async for piece in pieces:
                yield {
                    **head,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
            yield {
                **head,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": gen.finish_reason}],
            }
            if body.include_usage:
                yield {**head, "object": "chat.completion.chunk", "choices": [], **_usage(gen)}

        return sse(chunks())
    message = {"role": "assistant", "content": gen.text}
    return {
        **head,
        "object": "chat.completion",
        **_usage(gen),
        "choices": [{"index": 0, "message": message, "finish_reason": gen.finish_reason}],
    }


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
    vectors, tokens = await engine.hub.text.embed(texts)
    return {
        "object": "list",
        "model": engine.hub.name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        "data": [
            {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
        ],
    }
