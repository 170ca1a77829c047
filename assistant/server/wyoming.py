"""Home Assistant's Wyoming protocol on TCP, beside HTTP, on the same loaded models.

`assistant serve --wyoming-port PORT` (or ``server.wyoming_port``) opens it. Each connection
is a ``WyomingSession``: a thin adapter that maps Wyoming events onto the model hub (speech to
text, text to speech) and the conversation core (``handle``). It serves:

- ``describe`` -> ``info`` (asr, tts and handle, with their models, languages and voice);
- asr: ``transcribe`` (optional), ``audio-start``, ``audio-chunk``s, ``audio-stop`` ->
  ``transcript-start``, ``transcript-chunk``, ``transcript-stop`` and ``transcript``. Audio of
  any rate, sample width and channel count is mixed down and resampled to 16 kHz;
- tts: ``synthesize`` -> ``audio-start``, ``audio-chunk``s, ``audio-stop``, its first clause
  (cut after ``tts.first_chunk_words`` words) spoken on its own so audio starts sooner; the
  streaming ``synthesize-start``, ``-chunk``s, ``-stop`` speak each clause as soon
  as its text is complete and end with ``synthesize-stopped`` (a plain ``synthesize`` sent
  alongside a stream, as Home Assistant does for older servers, is not spoken twice). A voice
  other than the loaded one is refused with an ``error`` naming the one there is;
- handle: ``transcript`` -> ``handled-start``, ``handled-chunk``s, ``handled-stop`` and
  ``handled`` (see wyoming_handle.py);
- ``ping`` -> ``pong``.

- wake: ``detect`` (the names wanted; none: every one) then audio -> a ``detection`` each time
  a wake word is heard, and ``not-detected`` at ``audio-stop`` if none was (see
  wyoming_wake.py).

An event of another kind gets an ``error`` event naming what is offered. A malformed event, an
event over ``server.wyoming_max_event_bytes`` or audio over ``server.max_audio_s`` ends that
connection with one log line; a client that vanishes mid-stream ends only its own session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
)
from wyoming.wake import Detect

from assistant.errors import AssistantError
from assistant.models.hub import ModelHub, NoModel
from assistant.pipeline.stages.chunker import ClauseSplitter
from assistant.server.wyoming_handle import HandleSession
from assistant.server.wyoming_info import Served, describe
from assistant.server.wyoming_wake import WakeListener
from assistant.server.wyoming_wire import AudioIn, WireError, read_event

log = logging.getLogger("assistant.wyoming")
HEADER_LIMIT = 64 * 1024  # bytes of one event's JSON header line


class WyomingSession:
    """One Wyoming connection."""

    def __init__(
        self,
        hub: ModelHub,
        served: Served,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.hub, self.settings, self.served = hub, hub.settings, served
        self.reader, self.writer = reader, writer
        self.peer = writer.get_extra_info("peername")
        self._audio: AudioIn | None = None
        self._language: str | None = None
        self._stream: ClauseSplitter | None = None  # a synthesize-start ... -stop in progress
        self._handle = HandleSession(hub)
        self._wake = WakeListener()  # after ``detect``, audio goes to the wake words instead

    async def run(self) -> None:
        """Serve events until the client leaves or sends something it must not."""
        limit = self.settings.server.wyoming_max_event_bytes
        try:
            while (event := await read_event(self.reader, limit)) is not None:
                try:
                    await self.handle(event)
                except (AssistantError, NoModel) as exc:  # a model missing or failing, or
                    # the chat model unloaded meanwhile: this request fails, the session goes on
                    await self.send(Error(text=str(exc), code=type(exc).__name__).event())
        except WireError as exc:
            log.warning("wyoming client %s: %s; connection closed", self.peer, exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.warning("wyoming client %s went away in the middle of an event", self.peer)
        finally:
            await self._handle.close()
            self._wake.close()
            with contextlib.suppress(Exception):
                self.writer.close()
                await self.writer.wait_closed()

    async def send(self, event: Event) -> None:
        """Write one event to the client."""
        await async_write_event(event, self.writer)

    async def handle(self, event: Event) -> None:
        """Answer one event."""
        kind = event.type
        if Describe.is_type(kind):
            await self.send(describe(self.served, self.hub.name).event())
        elif Ping.is_type(kind):
            await self.send(Pong(text=Ping.from_event(event).text).event())
        elif Transcribe.is_type(kind):
            self._language = Transcribe.from_event(event).language
        elif AudioStart.is_type(kind) or AudioChunk.is_type(kind) or AudioStop.is_type(kind):
            await self._audio_event(event)
        elif Synthesize.is_type(kind):
            if self._stream is None:  # else the same text is on its way as a stream
                await self._speak_all(Synthesize.from_event(event))
        elif SynthesizeStart.is_type(kind) or SynthesizeChunk.is_type(kind):
            await self._stream_event(event)
        elif SynthesizeStop.is_type(kind):
            await self._stream_stop()
        elif Transcript.is_type(kind):
            await self._handle.answer(Transcript.from_event(event).text, self.send)
        elif Detect.is_type(kind):
            if (refusal := self._wake.listen_for(Detect.from_event(event).names)) is not None:
                await self.send(refusal)
        else:
            offered = "describe, asr (transcribe + audio), tts (synthesize), handle (transcript), "
            offered += "wake (detect + audio)"
            await self.send(Error(text=f"{kind!r} is not served; offered: {offered}").event())

    async def _audio_event(self, event: Event) -> None:
        if self._wake.active:
            await self._wake.audio(event, self.send)
            return
        max_s = self.settings.server.max_audio_s
        if AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            self._audio = AudioIn(start.rate, start.width, start.channels, max_s)
        elif AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            if self._audio is None:  # audio-start is optional: the chunk says the format
                self._audio = AudioIn(chunk.rate, chunk.width, chunk.channels, max_s)
            self._audio.add(chunk.audio)
        else:
            await self._transcribe()

    async def _transcribe(self) -> None:
        audio, self._audio = self._audio, None
        pcm = audio.pcm16k() if audio is not None else None
        text, language = "", self._language
        if pcm is not None and pcm.size:
            heard = await self.hub.transcribe(pcm)
            text, language = heard.text, heard.language
        self._language = None
        await self.send(TranscriptStart(language=language).event())
        if text:
            await self.send(TranscriptChunk(text=text).event())
        await self.send(TranscriptStop().event())
        await self.send(Transcript(text=text, language=language).event())

    def _check_voice(self, name: str | None) -> bool:
        return name is None or name == self.served.voice

    async def _speak_all(self, request: Synthesize) -> None:
        if not self._check_voice(request.voice.name if request.voice else None):
            await self._wrong_voice()
            return
        # The first clause alone (cut short, as replies are: tts.first_chunk_words), so audio
        # starts sooner; the rest in one call, which Piper splits into sentences itself.
        splitter = ClauseSplitter(first_words=self.settings.tts.first_chunk_words)
        clauses = [*splitter.push(request.text + " "), splitter.flush()]
        await self._audio_start()
        await self._say(clauses[0])
        await self._say(" ".join(clauses[1:]))
        await self.send(AudioStop().event())

    async def _stream_event(self, event: Event) -> None:
        if SynthesizeStart.is_type(event.type):
            start = SynthesizeStart.from_event(event)
            if not self._check_voice(start.voice.name if start.voice else None):
                await self._wrong_voice()
                return
            self._stream = ClauseSplitter(first_words=self.settings.tts.first_chunk_words)
            await self._audio_start()
            return
        if self._stream is None:
            await self.send(Error(text="synthesize-chunk without synthesize-start").event())
            return
        for clause in self._stream.push(SynthesizeChunk.from_event(event).text):
            await self._say(clause)

    async def _stream_stop(self) -> None:
        if self._stream is None:
            await self.send(Error(text="synthesize-stop without synthesize-start").event())
            return
        stream, self._stream = self._stream, None
        await self._say(stream.flush())
        await self.send(AudioStop().event())
        await self.send(SynthesizeStopped().event())

    async def _audio_start(self) -> None:
        rate = (await self.hub.tts()).sample_rate
        await self.send(AudioStart(rate=rate, width=2, channels=1).event())

    async def _say(self, clause: str) -> None:
        if not clause.strip():
            return
        rate = (await self.hub.tts()).sample_rate
        async for pcm in self.hub.speak_stream(clause):
            await self.send(AudioChunk(rate=rate, width=2, channels=1, audio=pcm.tobytes()).event())

    async def _wrong_voice(self) -> None:
        there = self.served.voice
        await self.send(Error(text=f"no such voice; this server speaks with {there!r}").event())


async def start_wyoming(hub: ModelHub) -> asyncio.Server:
    """Listen for Wyoming clients on ``server.wyoming_host``:``server.wyoming_port``."""
    s = hub.settings.server

    served = await asyncio.to_thread(Served.resolve, hub.settings)

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await WyomingSession(hub, served, reader, writer).run()

    return await asyncio.start_server(connected, s.wyoming_host, s.wyoming_port, limit=HEADER_LIMIT)
