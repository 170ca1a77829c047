"""What the server serves with: the model's context pool, embeddings, admission control, metrics.

Admission: at most ``max_concurrent`` generations run (one per pooled context); up to
``max_queue`` more wait their turn in arrival order; beyond that a request is refused at once
(HTTP 429 with Retry-After) instead of piling up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from assistant.llm.aio import AsyncModel
from assistant.llm.embeddings import EmbeddingGenerator


class Busy(Exception):
    """The server is at its queue limit; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"server busy; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass
class Metrics:
    """Prometheus metrics of one server."""

    registry: CollectorRegistry
    requests: Counter
    tokens: Counter
    latency: Histogram
    in_flight: Gauge
    queued: Gauge  # admitted: running or waiting
    rejected: Counter

    @classmethod
    def create(cls) -> Metrics:
        """Fresh metrics in their own registry."""
        r = CollectorRegistry()
        return cls(
            r,
            Counter(
                "assistant_requests",
                "Requests by endpoint and status",
                ["endpoint", "status"],
                registry=r,
            ),
            Counter("assistant_generated_tokens", "Tokens generated", registry=r),
            Histogram("assistant_request_seconds", "Request latency", ["endpoint"], registry=r),
            Gauge("assistant_generations_in_flight", "Generations running", registry=r),
            Gauge("assistant_generations_admitted", "Generations running or waiting", registry=r),
            Counter(
                "assistant_rejected", "Requests refused because the queue was full", registry=r
            ),
        )


class Engine:
    """The loaded model and everything requests share."""

    def __init__(self, model: AsyncModel, max_queue: int = 16) -> None:
        self.model = model
        self.name = model.model.name or model.model.path.stem
        self.max_concurrent = model.pool.size
        self.max_queue = max_queue
        self.metrics = Metrics.create()
        self._admitted = 0  # running or waiting
        self._embedder: EmbeddingGenerator | None = None
        self._embed_lock = asyncio.Lock()

    @classmethod
    async def load(
        cls, path: Path, pool_size: int = 2, n_ctx: int = 2048, max_queue: int = 16
    ) -> Engine:
        """Load the model and its context pool."""
        return cls(await AsyncModel.load(path, pool_size=pool_size, n_ctx=n_ctx), max_queue)

    @contextlib.asynccontextmanager
    async def admission(self) -> AsyncIterator[None]:
        """Hold a place for one generation, or raise Busy when too many are waiting."""
        if self._admitted >= self.max_concurrent + self.max_queue:
            self.metrics.rejected.inc()
            raise Busy(retry_after=1 + self._admitted // max(1, self.max_concurrent))
        self._admitted += 1
        self.metrics.queued.inc()
        try:
            yield
        finally:
            self._admitted -= 1
            self.metrics.queued.dec()

    def active(self) -> int:
        """Generations running or waiting."""
        return self._admitted

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embeddings of ``texts`` with the loaded model (one embedding context, made on demand)."""
        async with self._embed_lock:
            if self._embedder is None:
                self._embedder = await asyncio.to_thread(EmbeddingGenerator, self.model.model, 512)
            vectors = await asyncio.to_thread(self._embedder.embed_batch, texts)
        return [v.tolist() for v in vectors]

    async def close(self) -> None:
        """Free the model."""
        await self.model.close()
