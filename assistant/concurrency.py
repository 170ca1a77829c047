"""Running blocking calls off the event loop: streamed, one at a time per model, or to the end.

Neutral ground: the library (``assistant.llm``), the pipeline and the server all use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_POLL_S = 0.05  # how often a worker blocked on a full buffer looks whether the reader left


def model_executor(name: str) -> ThreadPoolExecutor:
    """A one-thread executor: a model instance is never called from two threads at once."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)


@dataclass
class _Failed:
    error: BaseException


@dataclass
class _Finished(Generic[R]):
    value: R | None


class StreamResult(Generic[R]):
    """Holds the return value of a generator streamed by ``iterate_in_thread``."""

    value: R | None = None


class _Feed(Generic[T]):
    """The worker's side of ``iterate_in_thread``: runs the iterator, hands items to the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, buffer: int) -> None:
        self.loop, self.buffer = loop, buffer
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=buffer)
        self.left = threading.Event()  # the reader has gone

    def deliver(self, item: object) -> None:
        """Hand ``item`` to the loop; with a buffer, wait for room while the reader is there."""
        if not self.buffer:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening
                self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
            return
        future = asyncio.run_coroutine_threadsafe(self.queue.put(item), self.loop)
        while not self.left.is_set():
            with contextlib.suppress(TimeoutError):
                future.result(timeout=_POLL_S)
                return
        future.cancel()

    def run(self, make: Callable[[], Iterator[T]]) -> None:
        """Iterate on this (worker) thread until the end, an error or the reader leaving."""
        iterator: Iterator[T] | None = None
        try:
            iterator = make()
            while not self.left.is_set():
                self.deliver(next(iterator))
        except StopIteration as stop:
            self.deliver(_Finished(stop.value))
        except BaseException as exc:
            self.deliver(_Failed(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()


async def iterate_in_thread(
    make: Callable[[], Iterator[T] | Generator[T, None, R]],
    executor: Executor | None = None,
    result: StreamResult[R] | None = None,
    *,
    cancel: threading.Event | None = None,
    buffer: int = 0,
) -> AsyncGenerator[T, None]:
    """Yield the items of a blocking iterator that runs on ``executor`` (None: the default).

    Items cross to the loop thread-safely as they are produced; the generator's return value,
    if any, lands in ``result``. Once the reader has gone the worker asks for nothing more and
    closes the iterator on its own thread (so its cleanup, releasing locks, runs there).
    ``cancel`` is the flag the iterator watches: leaving early sets it and waits for the worker
    to end, so what the iterator held (a pooled context, a model lock) is free again when the
    reader moves on. That wait outlasts any cancellation of the reader: a cancel scope (anyio,
    under Starlette) cancels again at every await, and a reader that gave up waiting would
    hand the context to the next caller while this worker still decodes on it. With
    ``buffer`` the worker runs at most that many items ahead: a slow reader holds the model
    back instead of piling up memory.
    """
    loop = asyncio.get_running_loop()
    feed: _Feed[T] = _Feed(loop, buffer)
    worker = loop.run_in_executor(executor, feed.run, make)
    try:
        while True:
            item = await feed.queue.get()
            if isinstance(item, _Finished):
                if result is not None:
                    result.value = item.value
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        feed.left.set()
        if cancel is not None:
            cancel.set()
            await wait_through_cancellation(worker)


async def wait_through_cancellation(future: asyncio.Future[Any]) -> None:
    """Wait until ``future`` is done, even while being cancelled; re-raise the cancellation after.

    The future's own outcome is not raised: the caller only needs it to be over.
    """
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
        except Exception:  # its outcome: not ours to raise
            break
    if not future.cancelled():
        future.exception()  # retrieved, so it is never logged as unhandled
    if cancelled:
        raise asyncio.CancelledError


async def run_to_the_end(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``func`` on a thread and wait until it returns, even while being cancelled.

    For the calls that must not be left half-way: freeing a context or stopping a model
    thread, which a caller cancelled meanwhile would otherwise leave running unseen.
    """
    await wait_through_cancellation(asyncio.ensure_future(asyncio.to_thread(func, *args, **kwargs)))


async def finish_in_thread(
    func: Callable[..., R], *args: Any, cancel: threading.Event | None = None
) -> R:
    """``func(*args)`` on a thread; a caller cancelled meanwhile still waits for it to end.

    So a model lock held around it is released only once the model is free again. ``cancel``,
    the flag ``func`` watches, is set as soon as the caller is cancelled, so the wait is short.
    """
    future = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        if cancel is not None:
            cancel.set()
        await wait_through_cancellation(future)
        raise
    return future.result()


async def call_in_thread(executor: ThreadPoolExecutor, func: Callable[..., R], *args: Any) -> R:
    """Run ``func(*args)`` on ``executor`` and await its result."""
    return await asyncio.get_running_loop().run_in_executor(executor, func, *args)


class LinkedCancel(threading.Event):
    """A cancel flag that also counts as set once ``parent`` is (a step within a turn)."""

    def __init__(self, parent: threading.Event) -> None:
        super().__init__()
        self.parent = parent

    def is_set(self) -> bool:
        """Set itself, or its parent is."""
        return super().is_set() or self.parent.is_set()
