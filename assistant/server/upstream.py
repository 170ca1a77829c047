"""Text from an OpenAI-compatible server: ``llm.backend = "openai"`` for ``assistant serve``.

Completions, chat and embeddings are relayed to ``llm.base_url`` (llama.cpp server, vLLM,
Ollama, or another assistant), streamed, with the sampler fields the client set (the others
are left to the remote server's defaults). At most ``server.pool_size`` requests are relayed
at once; the rest wait in the engine's queue as with a local model. A client that goes away
closes its relayed stream, which the remote server takes as a cancel. Token counts are the
remote server's (asked for with ``stream_options.include_usage``), else estimated.

Tokenize and detokenize need the remote model's tokenizer, which the OpenAI API does not
offer, and models are chosen on the remote server: those endpoints answer 501.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from assistant.config import Settings
from assistant.llm.openai_wire import (
    UpstreamError,
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
from assistant.llm.remote import MESSAGE_OVERHEAD, RemoteChatModel
from assistant.server.schemas import Sampling
from assistant.server.text import NotAvailable, Usage, VoiceModel

_SAMPLER_FIELDS = {
    "temperature",
    "top_k",
    "top_p",
    "min_p",
    "typical_p",
    "repeat_penalty",
    "frequency_penalty",
    "presence_penalty",
    "seed",
}
_NO_TOKENIZER = (
    '{} is not available with llm.backend = "openai": the model\'s tokenizer is on the remote '
    "server"
)


class RemoteText:
    """A TextBackend relaying to an OpenAI-compatible server."""

    def __init__(self, settings: Settings, client: httpx.AsyncClient, name: str) -> None:
        self._settings = settings.llm
        self.base_url = str(client.base_url).rstrip("/")
        self.name = name
        self.backend = "openai"
        self.max_concurrent = settings.server.pool_size
        self._client = client
        self._slots = asyncio.Semaphore(self.max_concurrent)
        self._running = 0

    @classmethod
    async def connect(cls, settings: Settings) -> RemoteText:
        """Reach ``llm.base_url`` and settle the model (``llm.remote_model`` or the first listed).

        ConfigError without ``llm.base_url``; ModelError, naming the setting to fix, when the
        server cannot be reached.
        """
        s = settings.llm
        timeout = httpx.Timeout(settings.server.request_timeout_s, connect=10)
        client = httpx.AsyncClient(
            base_url=s.remote_url(), headers=auth_headers(s.api_key), timeout=timeout
        )
        try:
            return cls(settings, client, s.remote_model or await _first_model(client))
        except BaseException:
            await client.aclose()
            raise

    def info(self) -> dict[str, Any]:
        """The remote model and where it is served."""
        return {
            "name": self.name,
            "backend": self.backend,
            "base_url": self.base_url,
            "pool_size": self.max_concurrent,
            "contexts_free": self.max_concurrent - self._running,
        }

    async def health(self) -> dict[str, Any]:
        """Ready while the remote server answers its model list (asked with a short timeout)."""
        try:
            ready = (await self._client.get("/models", timeout=2)).status_code == 200
        except httpx.HTTPError:
            ready = False
        return {"ready": ready, "contexts_free": self.max_concurrent - self._running}

    def complete(self, prompt: str, req: Sampling, usage: Usage) -> AsyncGenerator[str, None]:
        """Relay to ``/completions``."""
        return self._relay(
            "/completions", {"prompt": prompt}, req, usage, estimate_tokens([prompt])
        )

    def chat(
        self, messages: list[tuple[str, str]], req: Sampling, usage: Usage
    ) -> AsyncGenerator[str, None]:
        """Relay to ``/chat/completions``."""
        guess = estimate_tokens((text for _, text in messages), MESSAGE_OVERHEAD)
        payload = {"messages": plain_messages(messages)}
        return self._relay("/chat/completions", payload, req, usage, guess)

    async def _relay(
        self, path: str, payload: dict[str, Any], req: Sampling, usage: Usage, guess: int
    ) -> AsyncGenerator[str, None]:
        sampling = req.model_dump(include=_SAMPLER_FIELDS, exclude_none=True)
        if not sampling.get("seed"):  # 0 means a random seed here, a fixed one elsewhere
            sampling.pop("seed", None)
        body = streaming_body(self.name, req.max_tokens, req.stops(), sampling, True, **payload)
        pieces = 0
        async with self._slots:
            self._running += 1
            try:
                async with self._client.stream("POST", path, json=body) as response:
                    await self._check(response)
                    async for line in response.aiter_lines():
                        event = parse_event(line, self.base_url)
                        if event is None:
                            continue
                        if event.text:
                            pieces += 1
                            yield event.text
                        usage.finish_reason = event.finish_reason or usage.finish_reason
                        usage.prompt_tokens = event.prompt_tokens or usage.prompt_tokens
                        usage.completion_tokens = event.completion_tokens or usage.completion_tokens
            except httpx.HTTPError as exc:
                raise unreachable(self.base_url, exc) from None
            finally:
                self._running -= 1
                # Servers that send no usage stream about one token per event.
                usage.prompt_tokens = usage.prompt_tokens or guess
                usage.completion_tokens = usage.completion_tokens or pieces

    async def _check(self, response: httpx.Response) -> None:
        """Raise UpstreamError unless ``response`` is a stream of server-sent events."""
        if not response.is_success:
            raise refusal(self.base_url, response.status_code, await response.aread())
        kind = response.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            body = await response.aread()
            raise refusal(self.base_url, 502, b"answered without streaming (" + body[:200] + b")")

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Relay to ``/embeddings``."""
        try:
            response = await self._client.post(
                "/embeddings", json={"model": self.name, "input": texts}
            )
        except httpx.HTTPError as exc:
            raise unreachable(self.base_url, exc) from None
        if response.status_code >= 400:
            raise refusal(self.base_url, response.status_code, response.content)
        try:
            answer = response.json()
            rows = sorted(answer["data"], key=lambda row: int(row.get("index", 0)))
            vectors = [[float(x) for x in row["embedding"]] for row in rows]
            used = int((answer.get("usage") or {}).get("prompt_tokens") or 0)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            wrong = f"not an embeddings answer ({type(exc).__name__}: {exc})"
            raise refusal(self.base_url, 502, wrong.encode()) from None
        if len(vectors) != len(texts):
            wrong = f"{len(vectors)} embeddings for {len(texts)} texts"
            raise refusal(self.base_url, 502, wrong.encode())
        return vectors, used or estimate_tokens(texts)

    async def tokenize(self, text: str, add_bos: bool, special: bool) -> list[int]:
        """Not available: the tokenizer is remote."""
        raise NotAvailable(_NO_TOKENIZER.format("tokenize"))

    async def detokenize(self, tokens: list[int]) -> str:
        """Not available: the tokenizer is remote."""
        raise NotAvailable(_NO_TOKENIZER.format("detokenize"))

    async def voice_model(self) -> VoiceModel:
        """A client of the same remote model for one voice session."""
        s = self._settings
        return RemoteChatModel(
            self.base_url, s.api_key, self.name, s.n_ctx, self._client.timeout.read or 120.0
        )

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def relayed_status(exc: UpstreamError) -> int:
    """The HTTP status a relayed failure answers with.

    The client's mistake as the remote server saw it stays the client's (400); a busy remote
    is worth retrying (503); anything else is the remote server's failure (502).
    """
    if exc.status in (400, 413, 422):
        return 400
    return 503 if exc.status in (429, 503) else 502


async def _first_model(client: httpx.AsyncClient) -> str:
    try:
        response = await client.get("/models")
        response.raise_for_status()
        return first_model(response.json())
    except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise no_server(str(client.base_url), exc) from None
