"""What the HTTP server shares between requests: the model hub, admission and metrics.

Admission (``admission.py``) counts the replies that run and wait; the hub swaps the chat
model only while none does and no conversation holds a context on it. Whatever runs beside
the server (the kiosk) reports its health through ``health_hooks``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from assistant.concurrency import iterate_in_thread
from assistant.config import Settings
from assistant.heap import trim_heap
from assistant.models.hub import ModelHub
from assistant.models.request import Usage
from assistant.pipeline.turns import TurnReport
from assistant.server.admission import Admission
from assistant.server.metrics import Metrics
from assistant.server.pictures import decode_picture
from assistant.server.voice_slots import VoiceSlots


class Engine:
    """The hub, the admission queue and the metrics of one server."""

    def __init__(self, hub: ModelHub, max_queue: int = 16) -> None:
        self.hub = hub
        self.settings: Settings = hub.settings
        self.metrics = Metrics.create()
        self.metrics.voice_sessions.set_function(lambda: hub.conversations)
        self.metrics.count_remote_calls(hub.remotes)
        text = hub.text
        self.admission = Admission(text.max_concurrent, max_queue, self.metrics)
        self.voice_slots = VoiceSlots()  # voice sessions of every door (doors/base.py)
        self.health_hooks: dict[str, Callable[[], dict[str, Any]]] = {}  # name -> its status
        self.kept_for: float | None = None  # keep_alive of the last request that gave one

    @classmethod
    async def load(cls, settings: Settings) -> Engine:
        """The engine on a hub with the settings' text model loaded."""
        return cls(await ModelHub.load(settings), settings.server.max_queue)

    @property
    def keep_for(self) -> float:
        """How long an unused chat model stays loaded, in seconds (-1: always).

        The last request's ``keep_alive``, else ``server.keep_alive``.
        """
        return self.settings.server.keep_alive if self.kept_for is None else self.kept_for

    async def keep_alive(self) -> None:
        """Unload the chat model once unused for ``keep_for`` seconds (Ollama's keep_alive).

        Runs until cancelled; the next request loads the model again (``ModelHub.awake``).
        """
        hub = self.hub
        while True:
            seconds, idle = self.keep_for, time.monotonic() - hub.last_used
            if seconds >= 0 and hub.loaded and not hub.remote and idle >= seconds:
                await hub.sleep(lambda: bool(self.admission.active))
            await asyncio.sleep(1.0 if seconds < 0 else min(1.0, max(0.05, seconds - idle)))

    async def swap(self, name: str | None, layers: int | None = None) -> None:
        """Swap the chat model (see ``ModelHub.swap``) while no reply runs or waits."""
        await self.hub.swap(name, lambda: bool(self.admission.active), layers)

    def record_turn(self, report: TurnReport) -> asyncio.Future[None]:
        """Count a finished voice turn in the metrics, then give its freed memory back.

        Returns the trim, done off the event loop (awaited by whoever reports the turn after it).
        """
        self.metrics.voice_turns.inc()
        v2v = report.timings_ms().get("voice_to_voice")
        if v2v is not None:
            self.metrics.voice_to_voice.observe(v2v / 1000)
        return asyncio.get_running_loop().run_in_executor(None, trim_heap)

    async def see(
        self,
        picture: str,
        question: str,
        max_tokens: int | None,
        temperature: float,
        usage: Usage,
    ) -> AsyncGenerator[str, None]:
        """Stream the vision model's answer to ``question`` about ``picture``.

        ``picture`` is as the request gave it (base64 or a ``data:`` URI); decoding it, like
        every other blocking step, happens off the event loop. Answers take turns here, on the
        loop, rather than holding worker threads while they wait; each answer's token counts
        land in ``usage``.
        """
        limit = self.settings.server.max_image_pixels
        image = await asyncio.to_thread(decode_picture, picture, limit)
        vision = await self.hub.vision()
        async with self.hub.vision_turn:
            prepared = await asyncio.to_thread(vision.prepare, image)
            cancel = threading.Event()
            stream = iterate_in_thread(
                lambda: vision.answer(prepared, question, max_tokens, temperature, cancel),
                cancel=cancel,
                buffer=8,
            )
            try:
                async with contextlib.aclosing(stream):
                    async for piece in stream:
                        yield piece
            finally:  # the worker has ended: these are this answer's counts
                usage.prompt_tokens = vision.stats.prompt_tokens
                usage.completion_tokens = vision.stats.completion_tokens
                usage.finish_reason = vision.stats.finish_reason or None

    def stop(self) -> None:
        """Shutting down: stop the replies in flight and the voice sessions."""
        self.admission.stop()
        self.voice_slots.stop()

    async def close(self) -> None:
        """Free the models, each once the calls and voice sessions still using it have ended."""
        await self.voice_slots.close()  # a chat context freed under its session's thread crashes
        await self.hub.close()
