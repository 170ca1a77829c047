"""The error body of each API: OpenAI's under ``/v1``, the reference's everywhere else.

Handlers name a failure once, by a lower-case code and an HTTP status (OpenAI's wording);
``error_body`` turns that into what the path's API promises. The native API follows the
reference's error table: upper-case codes, 400 for every refused request (pydantic's 422
included) and for "no model loaded", 500 for a model that fails to load or a generation that
fails. Codes the table does not have keep their status and are written in upper case. The
lower-case code stays in ``type``, so the finer cause (``context_length_exceeded`` under
``INVALID_REQUEST``) is not lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

# lower-case code -> the reference's status and code, where the table names the failure
_TABLE: dict[str, tuple[int, str]] = {
    "model_not_loaded": (400, "MODEL_NOT_LOADED"),
    "model_not_found": (404, "MODEL_NOT_FOUND"),
    "model_load_failed": (500, "MODEL_LOAD_FAILED"),
    "generation_error": (500, "GENERATION_FAILED"),
    "rate_limited": (429, "RATE_LIMITED"),
    "unauthorized": (401, "UNAUTHORIZED"),
}


def is_openai(path: str) -> bool:
    """Whether ``path`` belongs to the OpenAI-compatible API."""
    return path == "/v1" or path.startswith("/v1/")


def reference_code(status: int, code: str) -> tuple[int, str]:
    """The reference's status and upper-case code for a failure named by ``code``."""
    if code == "model_not_loaded":
        return _TABLE[code]
    if status in (400, 422):  # the table's "request validation failed", whatever the field
        return 400, "INVALID_REQUEST"
    if code in _TABLE:
        return _TABLE[code]
    return status, "INTERNAL_ERROR" if status == 500 else code.upper()


def error_body(
    path: str, status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """The status and body of an error answered on ``path``."""
    if is_openai(path):
        if code == "model_not_loaded":  # as /v1 has always said it
            status, code = 404, "model_not_found"
        return status, {"error": {"code": code, "message": message, "type": code}}
    status, upper = reference_code(status, code)
    error = {"message": message, "code": upper, "type": code, "details": details or {}}
    return status, {"error": error}


def error_response(
    path: str,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> JSONResponse:
    """An error answered on ``path`` as a JSON response."""
    status, body = error_body(path, status, code, message, details)
    return JSONResponse(body, status, headers=headers)


_REFUSED = {
    "description": "INVALID_REQUEST: a field is missing or wrong (each one named)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {
                            "message": {"type": "string"},
                            "code": {"type": "string"},
                            "type": {"type": "string"},
                            "details": {"type": "object"},
                        },
                    }
                },
            }
        }
    },
}


def documented(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` saying 400 where the native API refuses a body (FastAPI writes 422)."""
    made = app.openapi

    def openapi() -> dict[str, Any]:
        schema = made()
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values() if not is_openai(path) else ():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None:
                    responses["400"] = _REFUSED
        return schema

    return openapi
