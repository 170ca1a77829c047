"""A chat model behind an OpenAI-compatible server (llama.cpp server, vLLM, Ollama, assistant).

Set ``llm.backend = "openai"`` with ``llm.base_url`` (and ``llm.api_key``, ``llm.remote_model``
if the server needs them); the voice pipeline uses it like a local model.

Replies stream from ``POST {base_url}/chat/completions``; cancelling closes the stream, which
an OpenAI-compatible server takes as the end of the request. There is no tokenizer on this
side, so the history is fitted to ``n_ctx`` on an estimate of four characters per token; the
remote server keeps its own prompt cache, so prefilling is left to it.
"""

from __future__ import annotations

import threading
from collections.abc import Generator

import httpx

from assistant.interfaces import ChatMessage
from assistant.llm.errors import ContextOverflowError
from assistant.llm.openai_wire import (
    auth_headers,
    estimate_tokens,
    first_model,
    no_server,
    parse_event,
    plain_messages,
    refusal,
    streaming_body,
    unreachable,
)
from assistant.llm.sampling import SamplerParams

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
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url, headers=auth_headers(api_key), timeout=timeout
        )
        self.n_ctx = n_ctx
        self.name = model or self._first_model()

    def _first_model(self) -> str:
        try:
            response = self._client.get("/models")
            response.raise_for_status()
            return first_model(response.json())
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise no_server(self.base_url, exc) from None

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
        sampling = {"temperature": params.temperature, "top_p": params.top_p}
        if params.seed:
            sampling["seed"] = params.seed
        pairs = [(m.role, m.content) for m in messages]
        body = streaming_body(self.name, max_tokens, stop, sampling, messages=plain_messages(pairs))
        try:
            with self._client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    raise refusal(self.base_url, response.status_code, response.read())
                reason = "stop"
                for line in response.iter_lines():
                    if cancel.is_set():
                        return "cancelled"  # leaving the block closes the stream
                    event = parse_event(line, self.base_url)
                    if event is not None and event.text:
                        yield event.text
                    reason = (event.finish_reason if event else None) or reason
                return "length" if reason == "length" else "stop"
        except httpx.HTTPError as exc:
            raise unreachable(self.base_url, exc) from None

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def _estimate(messages: list[ChatMessage]) -> int:
    return estimate_tokens((m.content for m in messages), MESSAGE_OVERHEAD)
