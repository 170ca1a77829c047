"""Running blocking model calls off the event loop, one model call at a time per model."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


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


async def iterate_in_thread(
    make: Callable[[], Iterator[T] | Generator[T, None, R]],
    executor: ThreadPoolExecutor,
    result: StreamResult[R] | None = None,
) -> AsyncIterator[T]:
    """Yield the items of a blocking iterator that runs on ``executor``.

    Items cross to the loop thread-safely as they are produced. The generator's return value,
    if any, lands in ``result``. Stopping early does not stop the thread: give the iterator a
    cancel flag and set it.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def deliver(item: object) -> None:
        # A closed loop (RuntimeError) means nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def work() -> None:
        iterator = make()
        try:
            while True:
                deliver(next(iterator))
        except StopIteration as stop:
            deliver(_Finished(stop.value))
        except BaseException as exc:
            deliver(_Failed(exc))

    loop.run_in_executor(executor, work)
    while True:
        item = await queue.get()
        if isinstance(item, _Finished):
            if result is not None:
                result.value = item.value
            return
        if isinstance(item, _Failed):
            raise item.error
        yield item


async def call_in_thread(executor: ThreadPoolExecutor, func: Callable[..., R], *args: Any) -> R:
    """Run ``func(*args)`` on ``executor`` and await its result."""
    return await asyncio.get_running_loop().run_in_executor(executor, func, *args)
