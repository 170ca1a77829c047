"""A model behind an OpenAI-compatible server: ``llm.backend = "openai"``.

Set ``llm.base_url`` (and ``llm.api_key``, ``llm.remote_model`` if the server needs them).
``RemoteText`` is what `assistant serve` relays to: completions, chat and embeddings go to
the remote server, streamed, with the sampler fields the client set (the others are left to
the remote server's defaults); chat goes through the remote server's chat model
(``RemoteChatModel``, remote_chat.py), which each reply holds for its turn. At most
``server.pool_size`` requests are relayed at once; the rest wait in the engine's queue as with
a local model. A client that goes away closes its relayed stream, which the remote server
takes as a cancel. Token counts are the remote server's (asked for with
``stream_options.include_usage``), else estimated. Tokenize and detokenize need the remote
model's tokenizer, which the OpenAI API does not offer, and models are chosen on the remote
server: those endpoints answer 501.

Every chat model on the same server, the server's and each conversation's, shares its
``OpenAIClient``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from assistant.concurrency import iterate_in_thread
from assistant.config import Settings
from assistant.llm.openai_wire import UpstreamError, estimate_tokens, refusal, streaming_body
from assistant.models.chat import SharedChat, chat_model
from assistant.models.interfaces import LanguageModel, VisionModel, VoiceModel
from assistant.models.openai_client import OpenAIClient, openai_client
from assistant.models.remote_chat import RemoteChatModel, read_reply
from assistant.models.request import TextRequest, Usage
from assistant.models.seeing import Eyes
from assistant.models.text import NotAvailable

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
        self.executor = ThreadPoolExecutor(self.max_concurrent + 1, "remote")
        self._chat = RemoteChatModel(client, name, settings.llm.n_ctx, owns_client=False)
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

    @contextlib.asynccontextmanager
    async def pooled_chat(self) -> AsyncIterator[LanguageModel]:
        """The remote server's chat model, for one of the ``max_concurrent`` relayed replies."""
        async with self._slot():
            yield self._chat

    async def complete(
        self, prompt: str, req: TextRequest, usage: Usage
    ) -> AsyncGenerator[str, None]:
        """Relay to ``/completions``."""
        payload: dict[str, object] = {"prompt": prompt}
        if req.response_format is not None:
            payload["response_format"] = req.response_format
        sampling = req.relayed_sampling
        body = streaming_body(self.name, req.max_tokens, req.stop, sampling, True, **payload)
        cancel = threading.Event()  # leaving early waits until the stream is closed
        guess = estimate_tokens([prompt])
        async with self._slot():
            stream = iterate_in_thread(
                lambda: read_reply(
                    self.client.stream("/completions", body), cancel, usage, guess, self.base_url
                ),
                self.executor,
                cancel=cancel,
                buffer=8,
            )
            async with contextlib.aclosing(stream):
                async for piece in stream:
                    yield piece

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """One of the ``max_concurrent`` requests relayed at once (waiting on the loop)."""
        async with self._slots:
            self._running += 1
            try:
                yield
            finally:
                self._running -= 1

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
        self, eyes: Eyes | None = None, vision: VisionModel | None = None
    ) -> VoiceModel:
        """A chat model of the same remote model for one conversation, on the same client."""
        shared = SharedChat(client=self.client, name=self.name)
        return chat_model(self._settings, shared, eyes, vision)

    async def close(self) -> None:
        """Close the connection pool and the readers' threads."""
        self.client.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


def relayed_status(exc: UpstreamError) -> int:
    """The HTTP status a relayed failure answers with.

    The client's mistake as the remote server saw it stays the client's (400); a busy remote
    is worth retrying (503); anything else is the remote server's failure (502).
    """
    if exc.status in (400, 413, 422):
        return 400
    return 503 if exc.status in (429, 503) else 502
