"""The OpenAI-compatible wire format, shared by every client of a remote model server.

Request bodies for streamed chat and text completions, parsing of their server-sent events,
and the errors a server's answers become.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from assistant.errors import ModelError
from assistant.llm.errors import LlmError

CHARS_PER_TOKEN = 4  # a rough guess where the tokenizer is on the other side


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


def auth_headers(api_key: str) -> dict[str, str]:
    """The Bearer header for ``api_key`` (none without one)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def plain_messages(messages: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """``(role, text)`` pairs as OpenAI chat messages."""
    return [{"role": role, "content": text} for role, text in messages]


def estimate_tokens(texts: Iterable[str], per_text: int = 0) -> int:
    """Tokens of ``texts`` guessed without a tokenizer (``per_text`` added for each)."""
    return sum(len(text) // CHARS_PER_TOKEN + per_text for text in texts)


def streaming_body(
    model: str,
    max_tokens: int | None,
    stop: list[str],
    sampling: dict[str, Any],
    include_usage: bool = False,
    **payload: Any,
) -> dict[str, Any]:
    """A streamed chat or text completion request (``messages=`` or ``prompt=``).

    With ``include_usage`` the last event carries the server's token counts (OpenAI's
    ``stream_options``; a server that rejects unknown fields may refuse it). ``max_tokens``
    None leaves the limit to the server (OpenAI's and llama.cpp's: the context).
    """
    body = {"model": model, **payload, **sampling, "stream": True}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    if stop:
        body["stop"] = stop
    return body


@dataclass(frozen=True)
class StreamEvent:
    """One event of a streamed completion: text, and at the end a finish reason or counts."""

    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tool_calls: tuple[dict[str, Any], ...] = ()  # pieces of calls (delta.tool_calls)


def parse_event(line: str, base_url: str) -> StreamEvent | None:
    """One server-sent event line of a chat or text completion (None for anything else).

    An error event (servers send one when generation fails mid-stream) or an event of the
    wrong shape raises UpstreamError.
    """
    if not line.startswith("data:") or (data := line[5:].strip()) == "[DONE]":
        return None
    try:
        event = json.loads(data)
    except ValueError:
        return None  # a comment or keep-alive of some other form
    if isinstance(event, dict) and event.get("error"):
        raise refusal(base_url, 500, json.dumps(event).encode())
    choices = (event.get("choices") or []) if isinstance(event, dict) else None
    choice = (choices or [{}])[0] if isinstance(choices, list) else None
    if not isinstance(event, dict) or not isinstance(choice, dict):
        raise refusal(base_url, 502, f"not a completion event: {data[:200]}".encode())
    delta = choice.get("delta")
    text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
    reason = choice.get("finish_reason")
    usage = event.get("usage")
    calls = delta.get("tool_calls") if isinstance(delta, dict) else None
    return StreamEvent(
        text if isinstance(text, str) else "",
        reason if isinstance(reason, str) else None,
        _count(usage, "prompt_tokens"),
        _count(usage, "completion_tokens"),
        tuple(c for c in calls if isinstance(c, dict)) if isinstance(calls, list) else (),
    )


class CallPieces:
    """A streamed tool call put together from its ``delta.tool_calls`` pieces (the first call)."""

    def __init__(self) -> None:
        self.name = ""
        self.arguments = ""
        self.seen = False

    def add(self, pieces: tuple[dict[str, Any], ...]) -> None:
        """Take the pieces of one event; those of calls after the first are left out."""
        for piece in pieces:
            if piece.get("index", 0) != 0:
                continue
            self.seen = True
            function = piece.get("function") or {}
            self.name += str(function.get("name") or "")
            self.arguments += str(function.get("arguments") or "")

    def text(self) -> str:
        """The call as a model writes it here: ``{"name": ..., "arguments": {...}}``."""
        try:
            arguments = json.loads(self.arguments or "{}")
        except ValueError:
            arguments = {}
        return json.dumps({"name": self.name, "arguments": arguments})


def _count(usage: object, key: str) -> int | None:
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and value >= 0 else None
