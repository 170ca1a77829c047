"""A Wyoming server on loopback that follows a script: forms and failures no real server shows.

Each connection runs ``script(reader, writer)``; the script reads and writes with the ``wyoming``
package's own functions (or raw bytes, for garbage). The server runs on a thread of its own
until the ``with`` block ends.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from wyoming.event import Event, async_read_event, async_write_event
from wyoming.info import Attribution, Info, TtsProgram

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
NOBODY = Attribution(name="tests", url="")


@contextmanager
def scripted(script: Script) -> Iterator[str]:
    """Serve ``script`` on a free loopback port: its tcp:// URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, asyncio.Server] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: what most scripts wait for
        finally:
            writer.close()

    async def start() -> None:
        holder["server"] = await asyncio.start_server(handle, "127.0.0.1", 0)
        ready.set()

    thread = threading.Thread(target=loop.run_forever, name="wyoming-script", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    ready.wait(10)
    port = holder["server"].sockets[0].getsockname()[1]
    try:
        yield f"tcp://127.0.0.1:{port}"
    finally:

        async def stop() -> None:
            holder["server"].close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def read_until(reader: asyncio.StreamReader, kind: str) -> list[Event]:
    """The client's events up to and including the first of ``kind``."""
    events = []
    while (event := await async_read_event(reader)) is not None:
        events.append(event)
        if event.type == kind:
            return events
    raise ConnectionError(f"the client closed before {kind}")


async def write(writer: asyncio.StreamWriter, *events: Event) -> None:
    for event in events:
        await async_write_event(event, writer)


def voice_info(streaming: bool = False) -> Event:
    """The info of a voice server with no voices listed."""
    program = TtsProgram(
        name="scripted",
        attribution=NOBODY,
        installed=True,
        description=None,
        version=None,
        voices=[],
        supports_synthesize_streaming=streaming,
    )
    return Info(tts=[program]).event()
