"""Admission: how many replies run and wait at once, and stopping them all at shutdown.

At most ``max_concurrent`` generations run (one per pooled context, or per relayed request
with a remote backend); up to ``max_queue`` more wait their turn in arrival order; beyond that a
request is refused at once (HTTP 429 with Retry-After) instead of piling up. At shutdown every
admitted reply is cancelled, and none is admitted any more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from assistant.errors import AssistantError
from assistant.server.metrics import Metrics


class Busy(Exception):
    """The server is at its queue limit; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"server busy; retry after {retry_after} s")
        self.retry_after = retry_after


class ShuttingDown(AssistantError):
    """The server is stopping: no new reply starts, and the ones in flight end."""

    def __init__(self) -> None:
        super().__init__("the server is shutting down; retry once it is back")


@dataclass(eq=False)
class Slot:
    """One admitted generation and the task consuming it now."""

    task: asyncio.Task[Any] | None


class Admission:
    """Counts the replies admitted; ``enter`` holds a place for one."""

    def __init__(self, max_concurrent: int, max_queue: int, metrics: Metrics) -> None:
        self.max_concurrent, self.max_queue = max_concurrent, max_queue
        self.metrics = metrics
        self.stopping = False  # the server is shutting down: replies in flight end now
        self._slots: set[Slot] = set()

    @property
    def active(self) -> int:
        """Generations running or waiting."""
        return len(self._slots)

    @contextlib.asynccontextmanager
    async def enter(self) -> AsyncIterator[Slot]:
        """Hold a place for one generation, or raise Busy when too many are waiting.

        While the place is held, ``stop`` may cancel the slot's task: the one consuming the
        reply, which its consumer keeps current (a streamed reply starts in the request's task
        and goes on in the response's).
        """
        if self.stopping:
            raise ShuttingDown
        if self.active >= self.max_concurrent + self.max_queue:
            self.metrics.rejected.inc()
            raise Busy(retry_after=1 + self.active // max(1, self.max_concurrent))
        slot = Slot(asyncio.current_task())
        self._slots.add(slot)
        self.metrics.admitted.inc()
        try:
            yield slot
        finally:
            self._slots.discard(slot)
            self.metrics.admitted.dec()

    def stop(self) -> None:
        """Shutting down: refuse new replies and cancel the ones in flight.

        Each cancelled reply ends as ShuttingDown where it is consumed (an SSE error event, a
        503, a WebSocket error), once its model thread has stopped.
        """
        self.stopping = True
        for slot in list(self._slots):
            if slot.task is not None:
                slot.task.cancel("shutting down")
