"""Wyoming ``detect``: the built-in wake words, listened for in a client's audio stream.

After ``detect`` (with the names wanted; none: all four) the connection's audio goes to the
wake word detectors instead of speech to text: each detection is sent at once as
``detection`` (name and the stream time in ms), and ``audio-stop`` ends the stream with
``not-detected`` if nothing was heard. A wake stream may never end (a satellite listening all
day), so nothing of it is kept. The detectors are tiny (~50 KB models, ~0.5 % of a core) and
each connection has its own, since they keep the state of the stream they hear.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from wyoming.error import Error
from wyoming.event import Event
from wyoming.wake import Detection, NotDetected

from assistant.models.wake_word import WAKE_WORDS, WakeWordDetector
from assistant.server import wyoming_events as ev
from assistant.server.wyoming_wire import AudioIn
from assistant.types import Pcm16

Send = Callable[[Event], Awaitable[None]]


class WakeListener:
    """The wake words one connection listens for, while it does."""

    def __init__(self) -> None:
        self._detectors: list[WakeWordDetector] = []
        self._audio: AudioIn | None = None
        self._heard_ms = 0.0
        self._found = False

    @property
    def active(self) -> bool:
        """Whether audio goes to the wake words (from ``detect`` to ``audio-stop``)."""
        return bool(self._detectors)

    def listen_for(self, names: list[str] | None) -> Event | None:
        """The wake words of the next audio stream (None or empty: all of them).

        An ``error`` event to send back when a name is not offered (nothing is listened for).
        """
        self.close()
        wanted = names or list(WAKE_WORDS)
        unknown = [n for n in wanted if n not in WAKE_WORDS]
        if unknown:
            text = f"no wake word {', '.join(unknown)}; offered: {', '.join(WAKE_WORDS)}"
            return Error(text=text, code="wake").event()
        self._detectors = [WakeWordDetector(n) for n in wanted]
        return None

    async def audio(self, data: ev.AudioStart | ev.AudioChunk | ev.AudioStop, send: Send) -> None:
        """One audio event of the stream."""
        if isinstance(data, ev.AudioStart):
            self._audio = AudioIn(data.rate, data.width, data.channels, None)
        elif isinstance(data, ev.AudioChunk):
            if self._audio is None:
                self._audio = AudioIn(data.rate, data.width, data.channels, None)
            await self._hear(self._audio.add(data.audio), send)
        else:
            if not self._found:
                await send(NotDetected().event())
            self.close()

    async def _hear(self, pcm: Pcm16, send: Send) -> None:
        self._heard_ms += len(pcm) / 16
        for detector in self._detectors:
            if await asyncio.to_thread(detector.hear, pcm):
                self._found = True
                await send(Detection(name=detector.name, timestamp=int(self._heard_ms)).event())

    def close(self) -> None:
        """Stop listening and free the detectors."""
        for detector in self._detectors:
            detector.close()
        self._detectors, self._audio = [], None
        self._heard_ms, self._found = 0.0, False
