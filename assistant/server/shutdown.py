"""Stopping the server promptly on SIGTERM or Ctrl-C, and exiting 0 for a requested stop.

uvicorn's own graceful shutdown waits for every response to finish, which for a reply of
hundreds of tokens, or a voice conversation, is as good as never. Here the signal also tells
the engine to stop its replies: streamed ones end with an ``error`` event (``shutting_down``)
and ``[DONE]``, waiting ones get a 503, /ws requests an error; WebSockets are closed with 1012
by uvicorn. Whatever is still running after ``server.shutdown_grace_s`` is cancelled. uvicorn
then raises the signal again so that the process dies of it (exit 143); a stop that was asked
for and went well is a success, so this server returns normally instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn

from assistant.server.engine import Engine

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def server_config(app: Any, host: str, port: int, grace_s: float) -> uvicorn.Config:
    """How the assistant's server runs."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=max(1, round(grace_s)),
    )


class GracefulServer(uvicorn.Server):
    """A uvicorn server that stops the engine's replies as soon as it is asked to stop."""

    def __init__(self, config: uvicorn.Config, engine: Engine) -> None:
        super().__init__(config)
        self.engine = engine
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: Any = None) -> None:
        """Serve until asked to stop."""
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Handle SIGINT and SIGTERM while serving; unlike uvicorn, never raise them again."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Begin the shutdown, and stop the replies in flight."""
        super().handle_exit(sig, frame)
        if self._loop is not None:
            # A signal handler runs between any two bytecodes of the loop's thread: leave the
            # work to the loop itself.
            self._loop.call_soon_threadsafe(self.engine.stop)
