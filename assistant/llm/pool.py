"""A pool of contexts over one model: N callers at once, never two on the same context."""

from __future__ import annotations

import asyncio
import contextlib
import queue
from collections.abc import AsyncIterator, Iterator

from assistant.llm.context import Context
from assistant.llm.model import Model


class ContextPool:
    """``size`` contexts sharing ``model``'s weights; check one out, use it, it comes back.

    Usable from threads (``context()``) and from asyncio (``acquire()``); a context that comes
    back keeps its cache, so a caller continuing a conversation often finds its prefix there.
    """

    def __init__(self, model: Model, size: int = 2, n_ctx: int = 2048, n_threads: int = 0) -> None:
        if size < 1:
            raise ValueError(f"a pool needs at least one context, not {size}")
        self.model = model
        self.size = size
        self._free: queue.Queue[Context] = queue.Queue()
        self._all = [Context(model, n_ctx=n_ctx, n_threads=n_threads) for _ in range(size)]
        for ctx in self._all:
            self._free.put(ctx)
        self._slots: asyncio.Semaphore | None = None

    @contextlib.contextmanager
    def context(self, timeout: float | None = None) -> Iterator[Context]:
        """Borrow a context from a thread (waits up to ``timeout`` seconds for one)."""
        try:
            ctx = self._free.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(
                f"no free context within {timeout} s (pool of {self.size})"
            ) from None
        try:
            yield ctx
        finally:
            self._free.put(ctx)

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Context]:
        """Borrow a context from a coroutine; waiting callers are served in arrival order."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        async with self._slots:
            ctx = self._free.get_nowait()  # a slot guarantees a free context
            try:
                yield ctx
            finally:
                self._free.put(ctx)

    @property
    def available(self) -> int:
        """Contexts not lent out right now."""
        return self._free.qsize()

    def close(self) -> None:
        """Free every context; one still lent out is freed once its call in progress ends."""
        for ctx in self._all:
            ctx.close()
