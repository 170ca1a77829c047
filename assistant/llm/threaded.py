"""A blocking iterator (a model generating on a worker thread) read from asyncio.

The worker runs at most ``buffer`` items ahead of the reader, so a slow client holds the model
back instead of piling up memory; closing the async generator (a cancelled request, a client
that went away) sets the worker's cancel event and waits for the thread to finish, so whatever
the worker holds (a pooled context, a model lock) is free again when the close returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
_DONE = object()
_POLL_S = 0.05  # how often a worker blocked on a full buffer looks for cancellation


@dataclass(frozen=True)
class _Failed:
    error: Exception


async def iterate_in_thread(
    make: Callable[[threading.Event], Iterator[T]], buffer: int = 8
) -> AsyncGenerator[T, None]:
    """Yield what ``make(cancel)`` yields, produced on a worker thread.

    ``make`` should stop soon after ``cancel`` is set; an exception it raises is raised here.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=buffer)
    cancel = threading.Event()

    def send(item: object) -> None:
        future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        while not cancel.is_set():
            try:
                future.result(timeout=_POLL_S)
                return
            except TimeoutError:
                continue
        future.cancel()

    def produce() -> None:
        items = make(cancel)
        try:
            for item in items:
                send(item)
                if cancel.is_set():
                    return
            send(_DONE)
        except Exception as exc:  # handed to the reader
            send(_Failed(exc))
        finally:  # a generator's own cleanup (locks it holds) runs on this thread, now
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = loop.run_in_executor(None, produce)
    try:
        while (item := await queue.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]  # everything else came from make()
    finally:
        cancel.set()
        with contextlib.suppress(Exception):
            await asyncio.shield(worker)  # the worker's resources are free once it has ended
