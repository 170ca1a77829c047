"""The ASGI application: routes, error mapping, API keys for non-loopback use."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from assistant import __version__
from assistant.errors import ModelError, UserError
from assistant.llm.errors import ContextOverflowError, LlmError
from assistant.llm.openai_wire import UpstreamError
from assistant.models.hub import InUse, NoModel
from assistant.models.loaders import ModelLoadFailed
from assistant.models.remote import relayed_status
from assistant.models.remote_role import RemoteFailed
from assistant.models.text import NotAvailable
from assistant.server import (
    audio,
    native,
    native_models,
    openai_api,
    page,
    ws,
)
from assistant.server.admission import Busy, ShuttingDown
from assistant.server.engine import Engine
from assistant.server.guard import Guard, bearer_token
from assistant.server.limits import BodyLimit, RateLimit
from assistant.server.streaming import RequestTimeout
from assistant.server.wire_errors import documented, error_response

_OPEN_PATHS = {"/", "/health", "/openapi.json", "/docs"}  # and the page's files, /static/


class ApiKey(BaseHTTPMiddleware):
    """Requires ``Authorization: Bearer <key>`` on every route but /health and the page.

    The page holds no data; it asks for the key (``?api_key=`` in its address) when it opens
    the voice WebSocket.
    """

    def __init__(self, app: object, key: str) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.key = key

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        """Refuse a request without the key."""
        given = bearer_token(request.headers.get("authorization", ""))
        path = request.url.path
        open_path = path in _OPEN_PATHS or path.startswith(("/static/", "/docs-static/"))
        if not open_path and not (given and secrets.compare_digest(given, self.key)):
            return error_response(
                path, 401, "unauthorized", "missing or wrong API key (Authorization: Bearer ...)"
            )
        return await call_next(request)


class Measure(BaseHTTPMiddleware):
    """Counts requests by path and status and times them."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        """Record the request in the engine's metrics."""
        metrics = request.app.state.engine.metrics
        path = request.url.path
        started = time.perf_counter()
        response = await call_next(request)
        metrics.requests.labels(path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response


def create_app(
    engine: Engine, api_key: str | None = None, doors: Sequence[APIRouter] = ()
) -> FastAPI:
    """The app serving ``engine``; with ``api_key`` every request but /health must carry it.

    ``doors`` are the routes of the front doors above this layer (doors/registry.py).
    """
    # /docs is the page module's (local files); ReDoc would load its script from a CDN.
    app = FastAPI(title="assistant", version=__version__, docs_url=None, redoc_url=None)
    app.state.engine = engine
    app.state.api_key = api_key
    app.state.started = time.monotonic()  # for /health's uptime
    app.include_router(native.router)
    app.include_router(native_models.router)
    app.include_router(openai_api.router)
    app.include_router(ws.router)
    for door in doors:
        app.include_router(door)
    app.include_router(audio.router)
    page.mount(app)
    app.add_middleware(Measure)
    if api_key:
        app.add_middleware(ApiKey, key=api_key)
    s = engine.settings.server
    app.add_middleware(BodyLimit, max_bytes=s.max_body_bytes)
    app.add_middleware(RateLimit, per_minute=s.rate_limit_per_minute)
    if s.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=s.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(Guard, settings=s)  # the outermost: before any other work

    _map_errors(app)
    app.openapi = documented(app)  # type: ignore[method-assign]
    return app


# exception -> status, code and extra headers of its answer (the most specific class wins)
_ERRORS: dict[type[Exception], tuple[int, str, dict[str, str]]] = {
    RequestTimeout: (504, "timeout", {}),
    NoModel: (404, "model_not_loaded", {}),  # /v1 says model_not_found; see wire_errors
    ModelError: (404, "model_not_found", {}),
    RemoteFailed: (502, "upstream_error", {}),  # a remote speech server down or misbehaving
    ModelLoadFailed: (500, "model_load_failed", {}),
    InUse: (409, "model_in_use", {"Retry-After": "1"}),
    UserError: (400, "invalid_input", {}),
    ContextOverflowError: (400, "context_length_exceeded", {}),
    NotAvailable: (501, "not_implemented", {}),
    ShuttingDown: (503, "shutting_down", {"Retry-After": "5"}),
}


def _map_errors(app: FastAPI) -> None:
    """Answer every expected failure in the error shape, with its status code."""
    for kind, (status, code, headers) in _ERRORS.items():
        app.add_exception_handler(kind, _answer(status, code, headers))

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> JSONResponse:
        retry = {"Retry-After": str(exc.retry_after)}
        return error_response(request.url.path, 429, "rate_limited", str(exc), retry)

    @app.exception_handler(UpstreamError)
    async def upstream(request: Request, exc: UpstreamError) -> JSONResponse:
        status, path = relayed_status(exc), request.url.path
        if status == 400:
            return error_response(path, 400, exc.code or "invalid_request", str(exc))
        if status == 503:
            return error_response(path, 503, "upstream_busy", str(exc), {"Retry-After": "1"})
        return error_response(path, 502, "upstream_error", str(exc))

    @app.exception_handler(LlmError)
    async def llm_error(request: Request, exc: LlmError) -> JSONResponse:
        status = 400 if isinstance(exc, ValueError) else 500
        return error_response(request.url.path, status, "generation_error", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals (an unreadable body, an unknown route or method)
        code = _HTTP_CODES.get(exc.status_code, "invalid_request")
        headers = dict(exc.headers or {}) or None
        return error_response(request.url.path, exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, _exc: Exception) -> JSONResponse:
        # Still logged with its traceback: Starlette raises it again after this answer.
        message = "unexpected server error; the server's log has the details"
        return error_response(request.url.path, 500, "internal_error", message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Name each bad field without echoing its value: the value may not even be encodable
        # (a lone surrogate in JSON), and echoing input back is not needed to fix it.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        safe = problems.encode("utf-8", errors="replace").decode("utf-8")
        return error_response(request.url.path, 422, "invalid_request", safe)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}


def _answer(status: int, code: str, headers: dict[str, str]) -> Any:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return error_response(request.url.path, status, code, str(exc), headers or None)

    return handler
