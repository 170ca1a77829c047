"""The one process lifecycle of `assistant serve` and `assistant kiosk`: start, signals, drain.

The HTTP app (with every WebSocket door) runs in uvicorn and the listening doors (Wyoming)
beside it, on one engine. SIGTERM or SIGINT stops the engine's replies and voice sessions at
once: streamed replies end with an ``error`` event (``shutting_down``) and ``[DONE]``, waiting
ones get a 503, /ws requests an error, voice sessions are closed with 1012. uvicorn's own
graceful shutdown would wait for every response to finish, which for a reply of hundreds of
tokens, or a voice conversation, is as good as never; here whatever is still running after
``server.shutdown_grace_s`` is cancelled (a second signal: at once). A stop that was asked for
and went well is a success: ``run`` returns normally and the command exits 0 (uvicorn would
raise the signal again, for an exit of 143). Then the listening doors close, and last the
engine frees the models, once every session using them has ended. After that the command
calls ``skip_final_collections``: the process exits without walking its whole heap again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn

from assistant.doors import registry
from assistant.server.engine import Engine

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
log = logging.getLogger("assistant.lifecycle")
Beside = Callable[[asyncio.Event], Awaitable[None]]  # runs until the event is set


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


class Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: ``run`` handles the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Nothing: the signals are the lifecycle's (uvicorn would raise them again at exit)."""
        yield


async def run(engine: Engine, announce: registry.Announce, beside: Beside | None = None) -> None:
    """Serve ``engine`` through every door until a stop signal (or ``beside`` ends).

    ``announce`` tells where the listening doors are; ``beside`` (the kiosk) runs with the
    server until the stop event it is given is set.
    """
    s = engine.settings.server
    app = registry.app(engine, s.api_key or None)
    server = Server(server_config(app, s.host, s.port, s.shutdown_grace_s))
    listeners = await registry.open_listeners(engine, announce)
    keeping = asyncio.create_task(engine.keep_alive())
    stop = asyncio.Event()
    try:
        with _signals(lambda: _stopping(engine, server, stop)):
            serving = asyncio.create_task(server.serve())
            try:
                await (beside(stop) if beside is not None else serving)
            finally:
                engine.stop()  # also when ``beside`` ended by itself
                server.should_exit = True
                await serving
    finally:
        keeping.cancel()
        with contextlib.suppress(Exception):
            await registry.close_listeners(listeners)
        with contextlib.suppress(Exception):
            await engine.close()


def skip_final_collections() -> None:
    """Leave what is still allocated to the process's exit, once ``run`` has returned.

    Python's exit runs several full garbage collections over every object alive, millions with
    the speech and model libraries loaded: 1-2 s after SIGTERM on a busy machine, for memory
    the exit gives back anyway. Frozen objects are left out of them; everything ``run`` had to
    finish (sessions, listeners, the models) has finished, and objects not in a cycle are
    still freed one by one as the modules go.
    """
    gc.freeze()


def _stopping(engine: Engine, server: uvicorn.Server, stop: asyncio.Event) -> None:
    """A stop signal: end the replies and sessions now, and drain (a second one: at once)."""
    log.info("stopping")
    if server.should_exit:
        server.force_exit = True
    server.should_exit = True
    stop.set()
    engine.stop()


@contextlib.contextmanager
def _signals(handler: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``handler`` on the event loop while serving."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives signals
        return
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        loop.add_signal_handler(sig, handler)
    try:
        yield
    finally:
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
