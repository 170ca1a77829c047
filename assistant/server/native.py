"""The native API: health, metrics, generate, chat, tokenize, detokenize, embeddings, ps."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from assistant import __version__
from assistant.errors import InputError
from assistant.heap import resident_bytes
from assistant.models.hub import report
from assistant.models.remote_role import BackendStatus
from assistant.server.engine import Engine
from assistant.server.guard import bearer_token
from assistant.server.probes import BackendProbes
from assistant.server.schemas import (
    ChatRequest,
    DetokenizeRequest,
    EmbeddingsRequest,
    GenerateRequest,
    NativeChatRequest,
    TokenizeRequest,
)
from assistant.server.streaming import Generation, sse
from assistant.server.tools import parse_call, prompt_messages


def engine_of(request: Request) -> Engine:
    """The engine the app was started with."""
    engine: Engine = request.app.state.engine
    return engine


def chat_generation(engine: Engine, body: ChatRequest) -> Generation:
    """The reply to a conversation: by the vision model when it carries a picture.

    With tools, the reply may be (or must be) a call held to their schemas.
    """
    use = body.tool_use()
    if use is not None:  # a remote server holds its own calls to their schemas
        body.hold_to(None if engine.hub.remote else use.grammar())
    picture = body.picture()
    if picture is None:
        return Generation(engine, body, messages=prompt_messages(body.messages, use))
    if use is not None:
        raise InputError("tools: a reply about a picture cannot call tools")
    image, question = picture
    return Generation(engine, body, question or engine.settings.vision.prompt, picture=image)


router = APIRouter()


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """Liveness, what is loaded, and where each role's model runs and whether it answers."""
    engine = engine_of(request)
    backends = await _backends(request)
    shown = _shown(request, engine)
    state: dict[str, Any] = {"ready": False, "contexts_free": 0}
    if engine.hub.loaded:
        state = await engine.hub.text.health()
    for name, hook in engine.health_hooks.items():  # what runs beside the server (a kiosk)
        state[name] = hook()
    return {
        "status": "ok",
        "version": __version__,
        "uptime": round(time.monotonic() - request.app.state.started),  # seconds
        "model": engine.hub.name if engine.hub.loaded else None,
        "backend": engine.settings.llm.backend,
        **state,
        "max_concurrent": engine.admission.max_concurrent,
        "vision_model": engine.hub.loaded_vision.name if engine.hub.loaded_vision else None,
        "loaded": report(engine.hub),  # every model loaded so far, with its size on disk
        "backends": {role: shown(status.as_dict()) for role, status in backends.items()},
    }


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus metrics; each role's backend is probed for them (up, round trip)."""
    engine = engine_of(request)
    backends = await _backends(request)
    engine.metrics.record_backends(backends.values())
    return Response(generate_latest(engine.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _shown(request: Request, engine: Engine) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What /health shows of a backend: all of it to a caller with the key (or with none set).

    To others, who may be anyone (/health needs no key), not where it points nor its error.
    """
    key = engine.settings.server.api_key
    if not key or bearer_token(request.headers.get("authorization", "")) == key:
        return lambda row: row
    return lambda row: {k: v for k, v in row.items() if k not in ("url", "error")}


async def _backends(request: Request) -> dict[str, BackendStatus]:
    """Each role's backend, probed at most every few seconds (server/probes.py)."""
    state = request.app.state
    if not hasattr(state, "probes"):
        state.probes = BackendProbes()
    probes: BackendProbes = state.probes
    return await probes.statuses(engine_of(request))


@router.get("/api/ps")
async def running(request: Request) -> dict[str, Any]:
    """The loaded models (as Ollama's /api/ps), their weights' size, and the process's memory.

    Weights are memory-mapped, so a model's ``size`` is what it can occupy; ``rss_bytes`` is
    what the whole process holds now (weights touched, caches, buffers).
    """
    engine = engine_of(request)
    keep = engine.keep_for
    models = [
        {"name": row["name"], "role": row["role"], "size": row["bytes"]}
        for row in report(engine.hub)
    ]
    for model in models:
        if model["role"] == "llm" and keep >= 0:  # when keep_alive unloads it, if still unused
            left = engine.hub.last_used + keep - time.monotonic()
            model["expires_in_s"] = round(max(0.0, left), 1)
    return {"models": models, "asleep": engine.hub.asleep, "rss_bytes": resident_bytes()}


async def _run(request: Request, gen: Generation, body: GenerateRequest | NativeChatRequest) -> Any:
    pieces = await gen.started_or_done(body.stream, request)
    tools = isinstance(body, ChatRequest) and body.tool_use() is not None

    def calls() -> dict[str, Any]:  # Ollama's shape: arguments as an object
        call = parse_call(gen.text) if tools else None
        if call is None:
            return {}
        function = call["function"]
        arguments = json.loads(function["arguments"])
        return {"tool_calls": [{"function": {"name": function["name"], "arguments": arguments}}]}

    def reply() -> dict[str, Any]:  # the reference's fields, then ours
        said = {"content": gen.text, "role": "assistant"} if isinstance(body, ChatRequest) else {}
        return {**said, "text": gen.text, "model": gen.model_name, **gen.stats(), **calls()}

    if pieces is None:
        return reply()
    summary = (lambda: {"done": True, **reply()}) if body.done_event else None
    return sse(_tokens(pieces, calls), summary, request.url.path)


async def _tokens(
    pieces: AsyncIterator[str], calls: Callable[[], dict[str, Any]]
) -> AsyncIterator[dict[str, Any]]:
    """The reference's stream events, ``{"token", "id"}``; a tool call comes on one more."""
    index = 0
    async for piece in pieces:
        yield {"token": piece, "id": index}
        index += 1
    if call := calls():  # still a token event, so a client reading "token" goes on working
        yield {"token": "", "id": index, **call}


@router.post("/api/generate")
async def generate(body: GenerateRequest, request: Request) -> Any:
    """Continue a raw prompt (SSE with ``stream: true``)."""
    return await _run(request, Generation(engine_of(request), body, body.prompt), body)


@router.post("/api/chat")
async def chat(body: NativeChatRequest, request: Request) -> Any:
    """Reply to a conversation (SSE with ``stream: true``); ``images`` go to the vision model."""
    return await _run(request, chat_generation(engine_of(request), body), body)


@router.post("/api/tokenize")
async def tokenize(body: TokenizeRequest, request: Request) -> dict[str, Any]:
    """Token ids of a text."""
    hub = engine_of(request).hub
    await hub.awake()
    tokens = await hub.text.tokenize(body.text, body.add_bos, body.special)
    return {"tokens": tokens, "count": len(tokens)}


@router.post("/api/detokenize")
async def detokenize(body: DetokenizeRequest, request: Request) -> dict[str, Any]:
    """Text of token ids."""
    hub = engine_of(request).hub
    await hub.awake()
    return {"text": await hub.text.detokenize(body.tokens)}


@router.post("/api/embeddings")
async def embeddings(body: EmbeddingsRequest, request: Request) -> dict[str, Any]:
    """Sentence embeddings (L2-normalised)."""
    engine = engine_of(request)
    await engine.hub.awake()
    vectors, _ = await engine.hub.text.embed(
        body.texts(engine.settings.server.max_embedding_inputs)
    )
    return {
        "embeddings": vectors,
        "dimensions": len(vectors[0]) if vectors else 0,
        "model": engine.hub.chosen,  # the model that made them, whatever the request named
    }
