"""The WebSocket protocol at ``/ws``: generate, chat, cancel and ping, several requests at once.

Client messages: ``{"type": "generate", "id", "prompt", "config"}``, ``{"type": "chat", "id",
"messages", "config"}``, ``{"type": "cancel", "id"}``, ``{"type": "ping", "id"}``. Server
messages: ``status`` (on connect), ``token``, ``complete``, ``error``, ``pong``; every reply
names its ``request_id``. A cancelled request ends with ``complete`` and ``finish_reason``
``cancelled``; a closed connection cancels everything it started. Every field is checked:
``id`` is a non-empty string or integer, ``config`` an object of sampler fields (which may also
stand beside the prompt), and a field that is not understood is an ``INVALID_REQUEST`` naming
it. Error codes are those of the reference's table, as the HTTP API's (wire_errors.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from assistant.errors import ModelError, UserError
from assistant.hardware import llama_gpu
from assistant.heap import resident_bytes
from assistant.llm.errors import LlmError
from assistant.llm.openai_wire import UpstreamError
from assistant.models.hub import NoModel
from assistant.models.remote import relayed_status
from assistant.server.admission import Busy, ShuttingDown
from assistant.server.engine import Engine
from assistant.server.guard import bearer_token, origin_allowed
from assistant.server.native import chat_generation
from assistant.server.schemas import ChatRequest, GenerateRequest, Sampling
from assistant.server.streaming import Generation
from assistant.server.wire_check import BadMessage, loads, refuse_non_finite

router = APIRouter()


class Session:
    """One connection: its running requests and a lock so messages never interleave."""

    def __init__(self, socket: WebSocket, engine: Engine) -> None:
        self.socket = socket
        self.engine = engine
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message."""
        async with self._send_lock:
            await self.socket.send_json(message)

    async def error(self, request_id: str | None, code: str, message: str) -> None:
        """Report a failure of one request."""
        await self.send({"type": "error", "request_id": request_id, "error": message, "code": code})

    async def handle(self, message: dict[str, Any]) -> None:
        """Dispatch one client message."""
        kind, request_id = message.get("type"), message.get("id")
        if kind == "ping":
            await self.send({"type": "pong", "request_id": request_id, **_timestamp()})
        elif kind == "cancel":
            task = self.tasks.get(str(request_id))
            if task is not None:
                task.cancel()
        elif kind in ("generate", "chat"):
            if not _valid_id(request_id) or str(request_id) in self.tasks:
                await self.error(
                    request_id, "INVALID_REQUEST", "a generate/chat message needs a new, unique id"
                )
                return
            self._start(str(request_id), kind, message)
        else:
            await self.error(request_id, "INVALID_REQUEST", f"unknown message type {kind!r}")

    def _start(self, request_id: str, kind: str, message: dict[str, Any]) -> None:
        task = asyncio.create_task(self._run(request_id, kind, message))
        self.tasks[request_id] = task
        task.add_done_callback(lambda _t: self.tasks.pop(request_id, None))

    async def _run(self, request_id: str, kind: str, message: dict[str, Any]) -> None:
        try:
            gen = self._generation(kind, message)
        except (ValidationError, TypeError, ValueError) as exc:
            await self.error(request_id, "INVALID_REQUEST", _first_line(exc))
            return
        finish = None
        try:
            index = 0
            async for piece in gen.pieces():
                await self.send(
                    {
                        "type": "token",
                        "request_id": request_id,
                        "token": piece,
                        "index": index,
                        **_timestamp(),
                    }
                )
                index += 1
        except asyncio.CancelledError:
            finish = "cancelled"
        except Busy as exc:
            await self.error(request_id, "RATE_LIMITED", str(exc))
            return
        except LlmError as exc:
            await self.error(request_id, _code(exc), str(exc))
            return
        except NoModel as exc:
            await self.error(request_id, "MODEL_NOT_LOADED", str(exc))
            return
        except ModelError as exc:  # a picture and no vision model
            await self.error(request_id, "MODEL_NOT_FOUND", str(exc))
            return
        except UserError as exc:  # a picture the vision model cannot read
            await self.error(request_id, "INVALID_REQUEST", str(exc))
            return
        except ShuttingDown as exc:
            await self.error(request_id, "SHUTTING_DOWN", str(exc))
            return
        stats = gen.stats()
        if finish:
            stats["finish_reason"] = finish
        with contextlib.suppress(Exception):
            await self.send(
                {"type": "complete", "request_id": request_id, "text": gen.text, **stats}
            )

    def _generation(self, kind: str, message: dict[str, Any]) -> Generation:
        """The reply a generate/chat message asks for; ValueError/ValidationError if malformed."""
        config = message.get("config")
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise ValueError("config must be an object of sampler fields")
        field = "prompt" if kind == "generate" else "messages"
        model = GenerateRequest if kind == "generate" else ChatRequest
        sampler = set(Sampling.model_fields) - {"stream"}
        if unknown := sorted(str(k) for k in config if k not in sampler):
            raise ValueError(f"unknown config fields: {', '.join(unknown)}")
        # Sampler fields may also stand beside the prompt, as in the HTTP bodies.
        beside = {k: v for k, v in message.items() if k in sampler}
        known = {"type", "id", "config", field, *sampler}
        if extra := sorted(str(k) for k in message if k not in known):
            raise ValueError(f"unknown message fields: {', '.join(extra)}")
        body = model.model_validate({**beside, **config, field: message.get(field)})
        if isinstance(body, ChatRequest):
            return chat_generation(self.engine, body)
        return Generation(self.engine, body, body.prompt)

    def cancel_all(self) -> None:
        """Stop everything this connection started."""
        for task in list(self.tasks.values()):
            task.cancel()


def _timestamp() -> dict[str, int]:
    """Now, in whole seconds as the reference has it, and in milliseconds."""
    now = time.time()
    return {"timestamp": int(now), "timestamp_ms": int(now * 1000)}


def _first_line(exc: Exception) -> str:
    """A validation error's gist, without echoing the input (it may not even be encodable)."""
    if isinstance(exc, ValidationError):
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem.get("loc", ()))
        return f"{where}: {problem.get('msg', 'invalid')}" if where else problem.get("msg", "")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _code(exc: LlmError) -> str:
    """The protocol's error code for a failed generation (as its HTTP status would say)."""
    if isinstance(exc, UpstreamError):
        return {400: "INVALID_REQUEST", 503: "RATE_LIMITED"}.get(
            relayed_status(exc), "UPSTREAM_ERROR"
        )
    return "INVALID_REQUEST" if isinstance(exc, ValueError) else "GENERATION_FAILED"


def _valid_id(request_id: object) -> bool:
    """Ids are non-empty strings or integers (not booleans) of a sane length."""
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        return False
    return 0 < len(str(request_id)) <= 256


def _parse(text: str | None, data: bytes | None, limit: int) -> dict[str, Any] | str:
    """A client message as a dict, or why it is not one."""
    if data is not None:
        return "this endpoint takes JSON text messages, not binary ones"
    if text is None:
        return "messages must be JSON objects"
    try:
        value = loads(text, limit)  # bounded in size and depth before it is parsed
        refuse_non_finite(value)
        return value
    except BadMessage as exc:
        return str(exc)


async def admit(socket: WebSocket) -> bool:
    """Check the API key and the Origin of a WebSocket; close it (policy violation) if wrong.

    A page on another site must not drive the assistant through the user's browser
    (cross-site WebSocket hijacking): ``guard.origin_allowed`` decides.
    """
    key = socket.app.state.api_key
    if key:  # browsers cannot set headers on a WebSocket, so ?api_key= works too
        given = bearer_token(socket.headers.get("authorization", ""))
        given = given or socket.query_params.get("api_key", "")
        if not (given and secrets.compare_digest(given, key)):
            await socket.close(code=1008, reason="missing or wrong API key")
            return False
    origin = socket.headers.get("origin")
    settings = socket.app.state.engine.settings.server
    if origin is not None and not origin_allowed(origin, socket.headers.get("host", ""), settings):
        await socket.close(code=1008, reason=f"origin {origin} is not allowed")
        return False
    return True


def status(engine: Engine) -> dict[str, Any]:
    """The status event sent on connect.

    ``memory_used`` is what the process holds now (resident set, as /api/ps's ``rss_bytes``);
    ``gpu_memory_used`` is 0 without a GPU back-end and None where it cannot be measured.
    """
    return {
        "type": "status",
        "model": engine.hub.chosen if engine.hub.loaded else None,
        "active_sessions": engine.admission.active,
        "memory_used": resident_bytes(),
        "gpu_memory_used": None if llama_gpu() else 0,
    }


@router.websocket("/ws")
async def websocket(socket: WebSocket) -> None:
    """Serve one WebSocket connection."""
    engine: Engine = socket.app.state.engine
    if not await admit(socket):
        return
    await socket.accept()
    session = Session(socket, engine)
    await session.send(status(engine))
    limit = engine.settings.server.max_ws_message_bytes
    try:
        while True:
            received = await socket.receive()
            if received["type"] == "websocket.disconnect":
                break
            message = _parse(received.get("text"), received.get("bytes"), limit)
            if isinstance(message, str):
                await session.error(None, "INVALID_REQUEST", message)
                continue
            await session.handle(message)
    except WebSocketDisconnect:
        pass
    finally:
        session.cancel_all()
