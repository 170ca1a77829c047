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

Each conversation's chat model on the same server (``RemoteChatModel``, remote_chat.py) shares
its ``OpenAIClient``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from assistant.concurrency import iterate_in_thread
from assistant.config import Settings
from assistant.llm.openai_wire import (
    CallPieces,
    UpstreamError,
    estimate_tokens,
    refusal,
    streaming_body,
)
from assistant.models.chat import SharedChat, chat_model
from assistant.models.interfaces import VoiceModel
from assistant.models.llava import LlamaVisionModel
from assistant.models.openai_client import OpenAIClient, openai_client
from assistant.models.remote_chat import chat_messages, estimate_chat
from assistant.models.request import TextRequest
from assistant.models.seeing import Eyes
from assistant.models.text import NotAvailable, Usage
from assistant.types import ChatMessage

_NO_TOKENIZER = (
    '{} is not available with llm.backend = "openai": the model\'s tokenizer is on the remote '
    "server"
)


class RemoteText:
    """A TextBackend relaying to an OpenAI-compatible server."""

    def __init__(self, settings: Settings, client: OpenAIClient, name: str) -> None:
        self._settings = settings
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
        client = openai_client(settings)
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

    def complete(self, prompt: str, req: TextRequest, usage: Usage) -> AsyncGenerator[str, None]:
        """Relay to ``/completions``."""
        return self._relay(
            "/completions", {"prompt": prompt}, req, usage, estimate_tokens([prompt])
        )

    def chat(
        self, messages: list[ChatMessage], req: TextRequest, usage: Usage
    ) -> AsyncGenerator[str, None]:
        """Relay to ``/chat/completions`` (a chat with tools as the client gave it)."""
        guess = estimate_chat(messages)
        payload = req.relayed_chat or {"messages": chat_messages(messages)}
        return self._relay("/chat/completions", payload, req, usage, guess)

    async def _relay(
        self, path: str, payload: dict[str, Any], req: TextRequest, usage: Usage, guess: int
    ) -> AsyncGenerator[str, None]:
        if req.response_format is not None:
            payload = {**payload, "response_format": req.response_format}
        sampling = req.relayed_sampling
        body = streaming_body(self.name, req.max_tokens, req.stop, sampling, True, **payload)
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

    async def voice_model(
        self, eyes: Eyes | None = None, vision: LlamaVisionModel | None = None
    ) -> VoiceModel:
        """A chat model of the same remote model for one conversation, on the same client."""
        shared = SharedChat(client=self.client, name=self.name)
        return chat_model(self._settings, shared, eyes, vision)

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
