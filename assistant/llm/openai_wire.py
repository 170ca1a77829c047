"""The OpenAI-compatible wire format, shared by every client of a remote model server.

Request bodies for streamed chat and text completions, parsing of their server-sent events,
and the errors a server's answers become.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from assistant.errors import ModelError
from assistant.llm.errors import LlmError


class UpstreamError(LlmError):
    """The model server refused a request or could not be reached.

    ``status`` is what it answered (0: no answer at all) and ``code`` its error code, if it
    gave one; a server relaying the request answers its own client according to them.
    """

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status, self.code = status, code


def refusal(base_url: str, status: int, body: bytes) -> UpstreamError:
    """The error for an HTTP error answer of the model server, with its own message."""
    detail, code = body.decode(errors="replace"), ""
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
        error = json.loads(detail)["error"]
        detail = str(error.get("message") if isinstance(error, dict) else error)
        given = error.get("code")  # llama.cpp's server gives the status number here
        code = given if isinstance(given, str) else ""
    message = f"the model server at {base_url} answered {status}: {detail[:300]}"
    return UpstreamError(message, status, code)


def unreachable(base_url: str, exc: Exception) -> UpstreamError:
    """The error for a model server that cannot be reached or stopped answering."""
    return UpstreamError(
        f"no answer from the model server at {base_url} ({type(exc).__name__}: {exc}); check "
        "llm.base_url and that the server is running"
    )


def no_server(base_url: str, exc: Exception) -> ModelError:
    """The error for a model server whose model list cannot be had (at start-up)."""
    return ModelError(
        f"cannot reach a model at {base_url} ({type(exc).__name__}: {exc}); "
        "check llm.base_url and that the server is running"
    )


def first_model(models: Any) -> str:
    """The first model id of a ``GET /models`` answer (KeyError, IndexError, TypeError if none)."""
    return str(models["data"][0]["id"])


def streaming_body(
    model: str, max_tokens: int, stop: list[str], sampling: dict[str, Any], **payload: Any
) -> dict[str, Any]:
    """A streamed chat or text completion request (``messages=`` or ``prompt=``).

    Usage is asked for with the stream, so token counts come from the server's tokenizer.
    """
    body = {"model": model, **payload, "max_tokens": max_tokens, **sampling}
    body |= {"stream": True, "stream_options": {"include_usage": True}}
    if stop:
        body["stop"] = stop
    return body


@dataclass(frozen=True)
class StreamEvent:
    """One event of a streamed completion: text, and at the end a finish reason or usage."""

    text: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None


def parse_event(line: str, base_url: str) -> StreamEvent | None:
    """One server-sent event line of a chat or text completion (None for anything else).

    An error event (servers send one when generation fails mid-stream) raises UpstreamError.
    """
    if not line.startswith("data:") or (data := line[5:].strip()) == "[DONE]":
        return None
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    if event.get("error"):
        raise refusal(base_url, 500, json.dumps(event).encode())
    choices = event.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    delta = choice.get("delta")
    text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
    usage = event.get("usage")
    return StreamEvent(
        str(text or ""), choice.get("finish_reason"), usage if isinstance(usage, dict) else None
    )
