"""Where the server's text comes from: the in-process model, or a remote one (``upstream``).

The engine asks a TextBackend for raw completions, embeddings and token ids, so the endpoints
work the same whichever answers. Chat goes through the one chat interface, ``LanguageModel``:
the backend lends a chat model of its pool for each reply (``pooled_chat``) and makes one for
each voice conversation (``voice_model``). What a backend cannot do (a remote server's
tokenizer is not ours to call) raises NotAvailable, which the API answers with 501.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

from assistant.config import Settings
from assistant.llm.aio import AsyncModel, Finish
from assistant.llm.embeddings import EmbeddingGenerator
from assistant.models.chat import SharedChat, chat_model
from assistant.models.interfaces import LanguageModel, VisionModel, VoiceModel
from assistant.models.llama_chat import LlamaChatModel
from assistant.models.request import TextRequest, Usage
from assistant.models.seeing import Eyes


class NotAvailable(Exception):
    """The backend in use cannot do this (e.g. tokenize on a remote model)."""


class TextBackend(Protocol):
    """What the server needs from a text model."""

    name: str
    backend: str  # the llm.backend it serves: "local" or "openai"
    max_concurrent: int  # generations at once; more wait in the engine's queue

    @property
    def executor(self) -> Executor | None:
        """The threads its chat models stream on (None: the default executor)."""
        ...

    def info(self) -> dict[str, Any]:
        """What is serving, for /api/models."""
        ...

    async def health(self) -> dict[str, Any]:
        """``ready`` and ``contexts_free`` (slots not generating), for /health."""
        ...

    def complete(self, prompt: str, req: TextRequest, usage: Usage) -> AsyncGenerator[str, None]:
        """Stream the continuation of a raw prompt; fills ``usage`` when it ends."""
        ...

    def pooled_chat(self) -> AbstractAsyncContextManager[LanguageModel]:
        """A chat model of the pool, held for one reply (waits while all ``max_concurrent`` are).

        Its ``stream_chat`` blocks: run it on ``executor``.
        """
        ...

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """L2-normalised vectors of ``texts`` and the tokens they took."""
        ...

    async def tokenize(self, text: str, add_bos: bool, special: bool) -> list[int]:
        """Token ids of ``text``."""
        ...

    async def detokenize(self, tokens: list[int]) -> str:
        """Text of token ids."""
        ...

    async def voice_model(
        self, eyes: Eyes | None = None, vision: VisionModel | None = None
    ) -> VoiceModel:
        """A chat model for one voice session (its own context; the weights are shared).

        Built by ``models.chat.chat_model``: with ``eyes``, turns with a picture go to ``vision``.
        """
        ...

    async def close(self) -> None:
        """Free the model or connections."""
        ...


class LocalText:
    """The in-process GGUF model with its pool of contexts (one per concurrent generation).

    ``close`` waits for the calls still running on the model (a generation, embeddings, a
    tokenizer call) and refuses new ones: weights freed under a running call crash the process.
    """

    def __init__(self, model: AsyncModel, settings: Settings) -> None:
        self.model = model
        self.name = model.model.name or model.model.path.stem
        self.backend = "local"
        self.max_concurrent = model.pool.size
        self.executor: Executor | None = None
        self._settings = settings
        self._embedder: EmbeddingGenerator | None = None
        self._embed_lock = asyncio.Lock()
        self._users = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False

    @classmethod
    async def load(cls, settings: Settings, path: Path, layers: int | None = None) -> LocalText:
        """Load the GGUF file ``path`` with ``server.pool_size`` contexts.

        ``layers``: layers offloaded to a GPU, if not ``llm.gpu_layers`` (-1: all).
        """
        from assistant.hardware import gpu_layers

        pool, n_ctx = settings.server.pool_size, settings.llm.n_ctx
        layers = gpu_layers("llm", settings.llm.gpu_layers if layers is None else layers)
        model = await AsyncModel.load(path, pool_size=pool, n_ctx=n_ctx, n_gpu_layers=layers)
        return cls(model, settings)

    def info(self) -> dict[str, Any]:
        """The model's facts and its pool."""
        return self.model.info() | {"backend": self.backend}

    async def health(self) -> dict[str, Any]:
        """Ready while loaded; free contexts of the pool."""
        return {"ready": self.model.is_ready, "contexts_free": self.model.pool.available}

    @contextlib.asynccontextmanager
    async def _use(self) -> AsyncIterator[None]:
        """Count one call on the model, so ``close`` waits for it."""
        if self._closing:
            raise NotAvailable("the chat model is being unloaded")
        self._users += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._users -= 1
            if not self._users:
                self._idle.set()

    async def complete(
        self, prompt: str, req: TextRequest, usage: Usage
    ) -> AsyncGenerator[str, None]:
        """Stream from a free pooled context; the context says why it ended and how long.

        Its own count, not the reply's text tokenized again: that can come out a token
        shorter, and a reply cut at the limit would read as finished.
        """
        finish = Finish()
        stream = self.model.generate_stream(
            prompt, req.max_tokens, req.params, req.stop, grammar=req.grammar, finish=finish
        )
        try:
            async with self._use(), contextlib.aclosing(stream):
                async for piece in stream:
                    yield piece
        finally:  # also when stopped early: what was generated counts
            usage.completion_tokens, usage.finish_reason = finish.tokens, finish.reason or None
            tokenize = self.model.model.tokenize
            # Only the OpenAI API reports it: a long prompt is not counted on the event loop
            # for nothing.
            usage.count_prompt = lambda: len(tokenize(prompt, special=True))

    @contextlib.asynccontextmanager
    async def pooled_chat(self) -> AsyncIterator[LanguageModel]:
        """A chat model on a free context of the pool (waiting for one on the loop)."""
        async with self._use(), self.model.pool.acquire() as context:
            yield LlamaChatModel(self.model.model, context=context)

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Mean-pooled vectors from one embedding context (made on first use)."""
        async with self._use(), self._embed_lock:
            if self._embedder is None:
                self._embedder = await asyncio.to_thread(EmbeddingGenerator, self.model.model, 512)
            return await asyncio.to_thread(self._embed, self._embedder, texts)

    def _embed(
        self, embedder: EmbeddingGenerator, texts: list[str]
    ) -> tuple[list[list[float]], int]:
        tokens = sum(len(self.model.model.tokenize(t)) for t in texts)
        return [v.tolist() for v in embedder.embed_batch(texts)], tokens

    async def tokenize(self, text: str, add_bos: bool, special: bool) -> list[int]:
        """The model's tokenizer, off the event loop."""
        async with self._use():
            return await self.model.tokenize_async(text, add_bos, special)

    async def detokenize(self, tokens: list[int]) -> str:
        """The model's detokenizer."""
        async with self._use():  # the weights may be on their way out
            return self.model.model.detokenize(tokens)

    async def voice_model(
        self, eyes: Eyes | None = None, vision: VisionModel | None = None
    ) -> VoiceModel:
        """A chat context of the session's own on the shared weights."""
        shared = SharedChat(weights=self.model.model)
        async with self._use():
            return await asyncio.to_thread(chat_model, self._settings, shared, eyes, vision)

    async def close(self) -> None:
        """Refuse new calls, wait for the running ones, then free the contexts and weights."""
        self._closing = True
        await self._idle.wait()
        if self._embedder is not None:
            await asyncio.to_thread(self._embedder.close)
        await self.model.close()
