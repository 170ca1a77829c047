"""`assistant serve`'s app in the test's own process, for tests that publish onto a session's bus.

A voice session's input from the pipeline is its conversation's event bus. The recognizer that
publishes words while the user speaks is one producer on that bus; a test that needs several
such partial transcripts in a known order publishes them onto the live session's bus itself
and watches what the door makes of them. Everything else is the real server: the real app,
engine, models and doors, served by uvicorn on loopback from a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn

from assistant import config
from assistant.doors import registry
from assistant.doors.voice.endpoint import VoiceSession
from assistant.pipeline.events import Event
from assistant.server.engine import Engine
from tests.serving import free_port


@dataclass
class Here:
    """The server in this process: its URL, its loop, and the voice sessions it opened."""

    url: str
    loop: asyncio.AbstractEventLoop
    sessions: list[VoiceSession] = field(default_factory=list)

    def session(self, timeout: float = 30) -> VoiceSession:
        """The newest voice session, once one is open."""
        deadline = time.monotonic() + timeout
        while not self.sessions:
            assert time.monotonic() < deadline, "no voice session opened"
            time.sleep(0.05)
        return self.sessions[-1]

    def publish(self, session: VoiceSession, event: Event) -> None:
        """Publish ``event`` on the session's bus, on the server's loop, and wait until it was."""
        done = threading.Event()

        def publish() -> None:
            session.conversation.bus.publish(event)
            done.set()

        self.loop.call_soon_threadsafe(publish)
        assert done.wait(10), "the server's loop did not run the publish"


@contextlib.contextmanager
def serving_here(monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> Iterator[Here]:
    """The real server (settings ``overrides`` as nested dicts) for the length of a block."""
    opened: list[VoiceSession] = []
    init = VoiceSession.__init__

    def keep(session: VoiceSession, *args: Any, **kwargs: Any) -> None:
        init(session, *args, **kwargs)  # the session itself is untouched: it is only listed
        opened.append(session)

    monkeypatch.setattr(VoiceSession, "__init__", keep)
    port = free_port()
    settings = config.load({**overrides, "server": {"port": port, **overrides.get("server", {})}})
    started: dict[str, Any] = {}

    async def serve() -> None:
        engine = await Engine.load(settings)
        app = registry.app(engine)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        started.update(loop=asyncio.get_running_loop(), server=server, engine=engine)
        try:
            await server.serve()
        finally:
            await engine.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not (started.get("server") and started["server"].started):
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield Here(f"http://127.0.0.1:{port}", started["loop"], opened)
    finally:
        started["loop"].call_soon_threadsafe(started["engine"].stop)
        started["server"].should_exit = True
        thread.join(30)
