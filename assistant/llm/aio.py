"""The async API: load, generate and stream without blocking the event loop.

Model calls run in worker threads over a ContextPool, so ``pool_size`` coroutines generate at
once and the rest wait their turn. Streams have backpressure: the generating thread waits while
the consumer is ``buffer`` pieces behind. Cancelling the consumer (task cancellation, a
timeout, closing the stream) stops generation within one token and gives the context back; after
a plain ``break`` Python closes the stream a moment later, so wrap it in
``contextlib.aclosing`` when the context must be back on the next line.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.concurrency import iterate_in_thread
from assistant.llm.errors import GenerationError
from assistant.llm.grammar import Grammar
from assistant.llm.model import Model
from assistant.llm.pool import ContextPool
from assistant.llm.sampling import SamplerParams


@dataclass
class BatchGenerationConfig:
    """How ``batch_generate`` runs each prompt."""

    max_tokens: int = 100
    params: SamplerParams = field(default_factory=SamplerParams)
    stop: list[str] = field(default_factory=list)
    timeout_s: float | None = None  # per attempt
    retry_attempts: int = 0  # extra tries after a failure or a timeout


@dataclass
class Finish:
    """How a streamed generation ended, filled in once its stream is over."""

    reason: str = ""  # stop | length (every allowed token drawn) | cancelled
    tokens: int = 0  # tokens drawn (the end-of-generation token not counted)


@dataclass(frozen=True)
class GenerationResult:
    """One prompt's outcome in a batch; ``error`` is set (and ``text`` empty) if it failed."""

    index: int
    prompt: str
    text: str
    error: str | None
    attempts: int
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether the prompt produced a reply."""
        return self.error is None


class AsyncModel:
    """A model and a pool of contexts, driven from asyncio: ``await AsyncModel.load(path)``."""

    def __init__(self, model: Model, pool: ContextPool) -> None:
        self.model = model
        self.pool = pool
        self._closed = False

    @classmethod
    async def load(
        cls,
        path: str | Path,
        pool_size: int = 2,
        n_ctx: int = 2048,
        n_threads: int = 0,
        **model_options: Any,
    ) -> AsyncModel:
        """Load the model and its contexts in a worker thread."""

        def build() -> AsyncModel:
            model = Model.load(path, **model_options)
            return cls(model, ContextPool(model, pool_size, n_ctx, n_threads))

        return await asyncio.to_thread(build)

    @property
    def is_ready(self) -> bool:
        """Loaded and not closed."""
        return not self._closed

    def info(self) -> dict[str, Any]:
        """What is loaded: name, architecture, sizes and the pool."""
        m = self.model
        return {
            "name": m.name,
            "architecture": m.architecture,
            "n_params": m.n_params,
            "size": m.size,
            "n_vocab": m.n_vocab,
            "n_embd": m.n_embd,
            "n_ctx_train": m.n_ctx_train,
            "pool_size": self.pool.size,
            "contexts_free": self.pool.available,
            "path": str(m.path),
        }

    async def tokenize_async(
        self, text: str, add_bos: bool = True, special: bool = False
    ) -> list[int]:
        """``Model.tokenize`` in a worker thread."""
        return await asyncio.to_thread(self.model.tokenize, text, add_bos, special)

    async def batch_tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of every text, in order."""
        return await asyncio.to_thread(lambda: [self.model.tokenize(t) for t in texts])

    async def generate(
        self,
        prompt: str | list[int],
        max_tokens: int | None = 100,
        params: SamplerParams | None = None,
        stop: list[str] | None = None,
        timeout: float | None = None,
        *,
        grammar: Grammar | None = None,
    ) -> str:
        """The whole reply; ``timeout`` (seconds) raises TimeoutError and stops generation."""

        async def collect() -> str:
            stream = self.generate_stream(prompt, max_tokens, params, stop, grammar=grammar)
            return "".join([p async for p in stream])

        return await asyncio.wait_for(collect(), timeout)

    async def generate_stream(
        self,
        prompt: str | list[int],
        max_tokens: int | None = 100,
        params: SamplerParams | None = None,
        stop: list[str] | None = None,
        buffer: int = 8,
        *,
        grammar: Grammar | None = None,
        finish: Finish | None = None,
    ) -> AsyncGenerator[str, None]:
        """Yield reply pieces as they are generated (at most ``buffer`` ahead of the reader).

        With ``grammar`` the reply follows it (see ``Context.generate_stream``); ``finish``
        receives why it ended and the tokens it drew.
        """
        cancel = threading.Event()
        async with self.pool.acquire() as ctx:  # back in the pool once its thread is done
            stream = iterate_in_thread(
                lambda: ctx.generate_stream(
                    prompt, max_tokens, params, stop, cancel, grammar=grammar
                ),
                cancel=cancel,
                buffer=buffer,
            )
            try:
                async with contextlib.aclosing(stream):
                    async for piece in stream:
                        yield str(piece)
            finally:  # the worker is done with the context: what it says is final
                if finish is not None:
                    finish.reason, finish.tokens = ctx.finish_reason, ctx.n_generated

    async def batch_generate(
        self, prompts: Sequence[str], config: BatchGenerationConfig | None = None
    ) -> list[GenerationResult]:
        """Generate for every prompt over the pool, in order; a failure stays with its prompt."""
        cfg = config or BatchGenerationConfig()
        return list(await asyncio.gather(*(self._one(i, p, cfg) for i, p in enumerate(prompts))))

    async def _one(self, index: int, prompt: str, cfg: BatchGenerationConfig) -> GenerationResult:
        started, error = time.perf_counter(), "not run"
        for attempt in range(1, cfg.retry_attempts + 2):
            try:
                text = await self.generate(
                    prompt, cfg.max_tokens, cfg.params, cfg.stop, cfg.timeout_s
                )
                return GenerationResult(
                    index, prompt, text, None, attempt, time.perf_counter() - started
                )
            except TimeoutError:
                error = f"timed out after {cfg.timeout_s} s"
            except (GenerationError, ValueError, RuntimeError) as exc:
                error = str(exc)
        return GenerationResult(
            index, prompt, "", error, cfg.retry_attempts + 1, time.perf_counter() - started
        )

    async def close(self) -> None:
        """Free the contexts and the weights."""
        self._closed = True
        await asyncio.to_thread(self.pool.close)
        self.model.close()
