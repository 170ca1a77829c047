"""The native API's models, as the reference has them: list, load and unload."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field, model_validator

from assistant.config import Settings
from assistant.errors import ModelError
from assistant.llm.errors import LlmError
from assistant.models.facts import model_facts
from assistant.models.hub import ModelHub
from assistant.models.names import chat_model_path, offered_chat_models
from assistant.server.native import engine_of
from assistant.server.schemas import Body
from assistant.server.wire_errors import error_response

router = APIRouter()


class LoadRequest(Body):
    """Which chat model to load: ``name`` as in the reference (``model`` is taken too)."""

    name: str | None = Field(
        None, min_length=1, description="a name from GET /api/models or `assistant models list`"
    )
    model: str | None = Field(None, min_length=1, description="the same as name")
    gpu_layers: int | None = Field(
        None, ge=-1, description="layers offloaded to a GPU (GPU builds; -1: all)"
    )

    @model_validator(mode="after")
    def _one_name(self) -> LoadRequest:
        if self.name is None and self.model is None:
            raise ValueError('name the model to load: {"name": "..."}')
        if None not in (self.name, self.model) and self.name != self.model:
            raise ValueError("name and model name different models; give one")
        return self

    @property
    def chosen(self) -> str:
        """The model to load."""
        return str(self.name or self.model)


_UNKNOWN = {"author": None, "parameters": None, "license": None, "architecture": None}


@router.get("/api/models")
async def models(request: Request) -> list[dict[str, Any]]:
    """Every chat model a client may load by name; ``loaded`` marks the one serving.

    Each ``name`` is what ``POST /api/models/load`` takes. The loaded one also carries what
    the model says of itself once loaded (``id``, ``n_params``, ``n_ctx_train``, the pool).
    """
    hub = engine_of(request).hub
    if hub.remote:  # the remote server chooses its models: only the one it serves is known
        # the reference's types kept: 0 bytes and "unknown" say "not known here"
        row = {"name": hub.name, "size": 0, "quantization": "unknown", "metadata": _UNKNOWN}
        return [_with_info(row | {"loaded": True}, hub)]
    loaded = hub.chosen if hub.loaded else None
    names = offered_chat_models(hub.settings)
    if loaded is not None and loaded not in names:  # loaded by a path
        names.insert(0, loaded)
    rows = await asyncio.to_thread(_describe, hub.settings, names)
    return [_with_info(row, hub) if row["name"] == loaded else row for row in rows]


def _describe(settings: Settings, names: list[str]) -> list[dict[str, Any]]:
    """A row per model file that can be read (one that cannot could not be loaded either)."""
    rows = []
    for name in names:
        try:
            facts = model_facts(chat_model_path(settings, name))
        except (ModelError, LlmError, OSError):
            continue
        rows.append(
            {
                "name": name,
                "size": facts.size,
                "quantization": facts.quantization,
                "loaded": False,
                "metadata": facts.metadata(),
            }
        )
    return rows


def _with_info(row: dict[str, Any], hub: ModelHub) -> dict[str, Any]:
    """``row`` marked loaded, with the loaded model's own facts beside the reference's."""
    info = hub.text.info() | {"id": hub.name}
    return {**info, **row, "loaded": True}


@router.post("/api/models/load", response_model=None)
async def load_model(body: LoadRequest, request: Request) -> dict[str, Any] | JSONResponse:
    """Replace the chat model with another: a name from ``GET /api/models``, or a path.

    ``gpu_layers`` offloads that many layers instead of ``llm.gpu_layers`` (GPU builds).
    """
    engine = engine_of(request)
    started = time.perf_counter()
    try:
        await engine.swap(body.chosen, body.gpu_layers)
    except ModelError as exc:  # never echoes the name: it may be a path to probe with
        offered = await asyncio.to_thread(offered_chat_models, engine.settings)
        details = {"available_models": offered}
        return error_response(request.url.path, 404, "model_not_found", str(exc), None, details)
    took = round((time.perf_counter() - started) * 1000)
    return {
        "success": True,
        "message": f"model {body.chosen} loaded",
        "load_time_ms": took,
        "status": "loaded",
        "model": engine.hub.text.info() | {"id": engine.hub.name},
    }


@router.post("/api/models/unload")
async def unload_model(request: Request) -> dict[str, Any]:
    """Free the chat model; generation answers 400 MODEL_NOT_LOADED until one is loaded."""
    await engine_of(request).swap(None)
    return {"success": True, "message": "chat model unloaded", "status": "unloaded"}
