"""A chat model behind an OpenAI-compatible server (llama.cpp server, vLLM, Ollama, assistant).

Set ``llm.backend = "openai"`` with ``llm.base_url`` (and ``llm.api_key``, ``llm.remote_model``
if the server needs them); the voice pipeline uses it like a local model.

Replies stream from ``POST {base_url}/chat/completions``; cancelling closes the stream, which
an OpenAI-compatible server takes as the end of the request. There is no tokenizer on this
side, so the history is fitted to ``n_ctx`` on an estimate of four characters per token; the
remote server keeps its own prompt cache, so prefilling is left to it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator
from typing import Any

import httpx

from assistant.errors import ModelError
from assistant.interfaces import ChatMessage
from assistant.llm.errors import ContextOverflowError, LlmError
from assistant.llm.sampling import SamplerParams

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 8  # tokens a chat template spends around each message


class RemoteChatModel:
    """A LanguageModel served over HTTP by an OpenAI-compatible server."""

    def __init__(
        self,
        base_url: str,
        api_key: str = "",
        model: str = "",
        n_ctx: int = 2048,
        timeout: float = 120.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self.n_ctx = n_ctx
        self.name = model or self._first_model()

    def _first_model(self) -> str:
        try:
            response = self._client.get("/models")
            response.raise_for_status()
            return str(response.json()["data"][0]["id"])
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            raise ModelError(
                f"cannot reach a model at {self.base_url} ({type(exc).__name__}: {exc}); "
                "check llm.base_url and that the server is running"
            ) from None

    def prefill(self, messages: list[ChatMessage]) -> None:
        """Nothing to do here: the remote server caches prompts itself."""

    def fit_history(self, messages: list[ChatMessage], max_tokens: int) -> list[ChatMessage]:
        """Drop the oldest non-system messages until the estimate fits ``n_ctx``."""
        system = [m for m in messages if m.role == "system"][:1]
        rest = [m for m in messages if m.role != "system"]
        while rest:
            if _estimate(system + rest) + max_tokens <= self.n_ctx:
                return system + rest
            rest = rest[1:]
        raise ContextOverflowError(
            f"the message does not fit the context window of {self.n_ctx} tokens; raise "
            "llm.n_ctx or lower llm.max_tokens"
        )

    def stream_chat(
        self,
        messages: list[ChatMessage],
        params: SamplerParams,
        max_tokens: int,
        stop: list[str],
        cancel: threading.Event,
    ) -> Generator[str, None, str]:
        """Yield the reply piece by piece; return stop, length or cancelled."""
        body = self._request(messages, params, max_tokens, stop)
        try:
            with self._client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    detail = response.read().decode(errors="replace")[:300]
                    raise LlmError(f"{self.base_url} answered {response.status_code}: {detail}")
                reason = "stop"
                for line in response.iter_lines():
                    if cancel.is_set():
                        return "cancelled"  # leaving the block closes the stream
                    piece, finished = _parse_event(line)
                    if piece:
                        yield piece
                    reason = finished or reason
                return "length" if reason == "length" else "stop"
        except httpx.HTTPError as exc:
            raise LlmError(f"lost the model server at {self.base_url} ({exc})") from None

    def _request(
        self, messages: list[ChatMessage], params: SamplerParams, max_tokens: int, stop: list[str]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.name,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
        }
        if stop:
            body["stop"] = stop
        if params.seed:
            body["seed"] = params.seed
        return body

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def _estimate(messages: list[ChatMessage]) -> int:
    return sum(len(m.content) // CHARS_PER_TOKEN + MESSAGE_OVERHEAD for m in messages)


def _parse_event(line: str) -> tuple[str, str | None]:
    """The text and finish reason of one server-sent event line ("", None for anything else)."""
    if not line.startswith("data: ") or line == "data: [DONE]":
        return "", None
    try:
        choice = json.loads(line[6:])["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return "", None
    delta = choice.get("delta") or {}
    return str(delta.get("content") or ""), choice.get("finish_reason")
