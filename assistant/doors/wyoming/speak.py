"""Wyoming ``tts``: ``synthesize``, and the streamed ``synthesize-start``/``-chunk``/``-stop``.

A plain ``synthesize`` speaks its first clause (cut after ``tts.first_chunk_words`` words) on
its own, so audio starts sooner, then the rest; a stream speaks each clause as soon as its text
is complete. Either way the text is held to the limit on text to speak of every door
(``MAX_SPEECH_CHARS``), and the hub speaks it a few sentences at a time, taking turns with
other clients (see models/fair_share.py). The voice is the one of ``tts.model``, or one of
``tts.voices`` asked for by name or language (see ``Served.voice_for``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.tts import SynthesizeStopped

from assistant.doors.wyoming.events import BadEvent
from assistant.models.hub import ModelHub
from assistant.pipeline.stages.chunker import ClauseSplitter
from assistant.server.limits import MAX_SPEECH_CHARS

Send = Callable[[Event], Awaitable[None]]


class _Stream:
    """A ``synthesize-start`` ... ``-stop`` in progress."""

    def __init__(self, first_words: int, language: str | None) -> None:
        self.splitter = ClauseSplitter(first_words=first_words)
        self.language = language
        self.chars = 0
        self.refused = False  # over the limit: the rest is not spoken, the stop still answered


class Speaker:
    """The speech synthesis of one Wyoming connection."""

    def __init__(self, hub: ModelHub, send: Send) -> None:
        self.hub, self.send = hub, send
        self._first_words = hub.settings.tts.first_chunk_words
        self._stream: _Stream | None = None

    @property
    def streaming(self) -> bool:
        """Whether a ``synthesize-start`` has not been stopped yet."""
        return self._stream is not None

    async def speak_all(self, text: str, language: str | None) -> None:
        """``synthesize``: audio-start, the audio of ``text``, audio-stop."""
        splitter = ClauseSplitter(first_words=self._first_words)
        clauses = [*splitter.push(text + " "), splitter.flush()]
        await self._audio_start(language)
        await self._say(clauses[0], language)
        await self._say(" ".join(clauses[1:]), language)
        await self.send(AudioStop().event())

    async def start(self, language: str | None) -> None:
        """``synthesize-start``: audio-start; the text follows."""
        self._stream = _Stream(self._first_words, language)
        await self._audio_start(language)

    async def chunk(self, text: str) -> None:
        """``synthesize-chunk``: speak the clauses it completes."""
        stream = self._stream
        if stream is None:
            raise BadEvent("synthesize-chunk without synthesize-start", "no-stream")
        if stream.refused:
            return
        stream.chars += len(text)
        if stream.chars > MAX_SPEECH_CHARS:
            stream.refused = True
            raise BadEvent(
                f"synthesize-chunk: the streamed text is over {MAX_SPEECH_CHARS} characters "
                "(the limit on text to speak); the rest of this stream is not spoken",
                "too-long",
            )
        for clause in stream.splitter.push(text):
            await self._say(clause, stream.language)

    async def stop(self) -> None:
        """``synthesize-stop``: the last clause, audio-stop and ``synthesize-stopped``."""
        stream, self._stream = self._stream, None
        if stream is None:
            raise BadEvent("synthesize-stop without synthesize-start", "no-stream")
        if not stream.refused:
            await self._say(stream.splitter.flush(), stream.language)
        await self.send(AudioStop().event())
        await self.send(SynthesizeStopped().event())

    async def _audio_start(self, language: str | None) -> None:
        rate = (await self.hub.voice(language)).sample_rate
        await self.send(AudioStart(rate=rate, width=2, channels=1).event())

    async def _say(self, text: str, language: str | None) -> None:
        if not text.strip():
            return
        rate = (await self.hub.voice(language)).sample_rate
        # Closed here, not left to the loop's finalizer: a session cancelled at shutdown
        # would otherwise leave it to be closed while the loop is going away.
        async with contextlib.aclosing(self.hub.speak_stream(text, language)) as audio:
            async for pcm in audio:
                chunk = AudioChunk(rate=rate, width=2, channels=1, audio=pcm.tobytes())
                await self.send(chunk.event())
