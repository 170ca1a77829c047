"""A model behind an OpenAI-compatible server: ``llm.backend = "openai"``.

Set ``llm.base_url`` (and ``llm.api_key``, ``llm.remote_model`` if the server needs them).
``RemoteText`` is what `assistant serve` relays to: completions, chat and embeddings go to
the remote server, streamed, with the sampler fields the client set (the others are left to
the remote server's defaults). At most ``server.pool_size`` requests are relayed at once; the
rest wait in the engine's queue as with a local model. A client that goes away closes its
relayed stream, which the remote server takes as a cancel. Token counts are the remote
server's (asked for with ``stream_options.include_usage``), else estimated. Tokenize and
detokenize need the remote model's tokenizer, which the OpenAI API does not offer, and models
are chosen on the remote server: those endpoints answer 501.

``RemoteChatModel`` is one conversation's chat model on the same server (the voice pipeline
uses it like a local one). There is no tokenizer on this side, so the history is fitted to
``n_ctx`` on an estimate of four characters per token; the remote server keeps its own prompt
cache, so prefilling is left to it. Both use one ``OpenAIClient``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from assistant.concurrency import iterate_in_thread
from assistant.config import Settings
from assistant.errors import ModelError
from assistant.llm.errors import ContextOverflowError
from assistant.llm.grammar import Grammar
from assistant.llm.openai_wire import (
    CallPieces,
    UpstreamError,
    estimate_tokens,
    plain_messages,
    refusal,
    streaming_body,
)
from assistant.llm.sampling import SamplerParams
from assistant.types import ChatMessage
from assistant.models.openai_client import OpenAIClient
from assistant.models.text import NotAvailable, Usage, VoiceModel
from assistant.server.schemas import ChatRequest, Sampling
from assistant.server.tools import relayed_tools

MESSAGE_OVERHEAD = 8  # tokens a chat template spends around each message

_SAMPLER_FIELDS = {
    "logit_bias",
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

    def __init__(self, settings: Settings, client: OpenAIClient, name: str) -> None:
        self._settings = settings.llm
        self.base_url = client.base_url
        self.name = name
        self.backend = "openai"
        self.max_concurrent = settings.server.pool_size
        self.client = client
        self._slots = asyncio.Semaphore(self.max_concurrent)
        # Streams are read on threads of their own, so a queue of waiting requests never
        # starves the default executor the rest of the server uses.
        self._readers = ThreadPoolExecutor(self.max_concurrent + 1, "remote")
        self._running = 0

    @classmethod
    async def connect(cls, settings: Settings) -> RemoteText:
        """Reach ``llm.base_url`` and settle the model (``llm.remote_model`` or the first listed).

        ConfigError without ``llm.base_url``; ModelError, naming the setting to fix, when the
        server cannot be reached.
        """
        s = settings.llm
        timeout = httpx.Timeout(settings.server.request_timeout_s, connect=10)
        client = OpenAIClient(s.remote_url(), s.api_key, timeout)
        try:
            return cls(
                settings, client, s.remote_model or await asyncio.to_thread(client.first_model)
            )
        except BaseException:
            client.close()
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
        ready = await asyncio.to_thread(self.client.ready)
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
        payload: dict[str, Any] = {"messages": plain_messages(messages)}
        if isinstance(req, ChatRequest) and req.tools:  # relayed as they came, calls and all
            payload = relayed_tools(req)
        return self._relay("/chat/completions", payload, req, usage, guess)

    async def _relay(
        self, path: str, payload: dict[str, Any], req: Sampling, usage: Usage, guess: int
    ) -> AsyncGenerator[str, None]:
        sampling = req.model_dump(include=_SAMPLER_FIELDS, exclude_none=True)
        if not sampling.get("seed"):  # 0 means a random seed here, a fixed one elsewhere
            sampling.pop("seed", None)
        if (structured := req.relayed_format()) is not None:
            payload = {**payload, "response_format": structured}
        body = streaming_body(self.name, req.max_tokens, req.stops(), sampling, True, **payload)
        pieces, call = 0, CallPieces()
        async with self._slots:
            self._running += 1
            stream = iterate_in_thread(
                lambda: self.client.stream(path, body),
                self._readers,
                cancel=threading.Event(),  # leaving early waits until the stream is closed
                buffer=8,
            )
            try:
                async for event in stream:
                    if event.text:
                        pieces += 1
                        yield event.text
                    call.add(event.tool_calls)
                    usage.finish_reason = event.finish_reason or usage.finish_reason
                    usage.prompt_tokens = event.prompt_tokens or usage.prompt_tokens
                    usage.completion_tokens = event.completion_tokens or usage.completion_tokens
                if call.seen:  # the remote's call, written as the local model writes one
                    yield call.text()
            finally:
                await stream.aclose()
                self._running -= 1
                # Servers that send no usage stream about one token per event.
                usage.prompt_tokens = usage.prompt_tokens or guess
                usage.completion_tokens = usage.completion_tokens or pieces

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Relay to ``/embeddings``."""
        answer = await asyncio.to_thread(
            self.client.post, "/embeddings", {"model": self.name, "input": texts}
        )
        try:
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
        """A chat model of the same remote model for one conversation, on the same client."""
        return RemoteChatModel(self.client, self.name, self._settings.n_ctx, owns_client=False)

    async def close(self) -> None:
        """Close the connection pool and the readers' threads."""
        self.client.close()
        self._readers.shutdown(wait=False, cancel_futures=True)


def relayed_status(exc: UpstreamError) -> int:
    """The HTTP status a relayed failure answers with.

    The client's mistake as the remote server saw it stays the client's (400); a busy remote
    is worth retrying (503); anything else is the remote server's failure (502).
    """
    if exc.status in (400, 413, 422):
        return 400
    return 503 if exc.status in (429, 503) else 502


class RemoteChatModel:
    """A LanguageModel served over HTTP by an OpenAI-compatible server."""

    # OpenAI-compatible servers take a JSON schema (response_format), not any GBNF grammar.
    free_grammar = False

    def __init__(
        self, client: OpenAIClient, name: str = "", n_ctx: int = 2048, owns_client: bool = True
    ) -> None:
        """``name`` "" asks the server for its first model; ``owns_client``: close closes it."""
        self.client, self.base_url = client, client.base_url
        self.n_ctx = n_ctx
        self.name = name or client.first_model()
        self._owns_client = owns_client

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
        grammar: Grammar | None = None,
    ) -> Generator[str, None, str]:
        """Yield the reply piece by piece; return stop, length or cancelled.

        A ``grammar`` made from a JSON schema goes to the server as a ``json_schema`` response
        format; any other is a ModelError.
        """
        sampling: dict[str, Any] = {"temperature": params.temperature, "top_p": params.top_p}
        if params.seed:
            sampling["seed"] = params.seed
        if grammar is not None:
            sampling["response_format"] = _schema_format(grammar)
        pairs = [(m.role, m.content) for m in messages]
        body = streaming_body(self.name, max_tokens, stop, sampling, messages=plain_messages(pairs))
        reason = "stop"
        events = self.client.stream("/chat/completions", body)
        try:
            for event in events:
                if cancel.is_set():
                    return "cancelled"
                if event.text:
                    yield event.text
                reason = event.finish_reason or reason
        finally:
            events.close()  # closes the stream: the remote server stops generating
        return "length" if reason == "length" else "stop"

    def close(self) -> None:
        """Close the client, when it is this model's own."""
        if self._owns_client:
            self.client.close()


def _schema_format(grammar: Grammar) -> dict[str, Any]:
    if grammar.schema is None:
        raise ModelError("a remote chat model follows JSON schemas only, not other grammars")
    schema = json.loads(grammar.schema)
    return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}


def _estimate(messages: list[ChatMessage]) -> int:
    return estimate_tokens((m.content for m in messages), MESSAGE_OVERHEAD)
