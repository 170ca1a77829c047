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
  alongside a stream, as Home Assistant does for older servers, is not spoken twice); see
  wyoming/speak.py. The voice of ``tts.model`` speaks, or one of ``tts.voices`` asked for by
  name or language; another is refused with an ``error`` naming the voices there are;
- handle: ``transcript`` -> ``handled-start``, ``handled-chunk``s, ``handled-stop`` and
  ``handled`` (see wyoming/handle.py);
- ``ping`` -> ``pong``.

- wake: ``detect`` (the names wanted; none: every one) then audio -> a ``detection`` each time
  a wake word is heard, and ``not-detected`` at ``audio-stop`` if none was (see
  wyoming/wake.py).

Every event is parsed into a typed, checked form before anything is done with it
(wyoming/events.py): an event of another kind, or one whose data is wrong (a missing or mistyped
field, a voice that is not offered, text over the limit on text to speak, JSON nested too deep),
gets an ``error`` event naming the fault, and the session goes on. What leaves the stream
unreadable (a header that is not one, an event over ``server.wyoming_max_event_bytes``) or
audio over ``server.max_audio_s`` ends that connection with one log line; a client that
vanishes mid-stream ends only its own session. At shutdown every session is cancelled and
awaited (``WyomingServer.close``).

A connection counts as a voice session (``server.max_voice_sessions``, shared with the
WebSocket doors) from its first request that uses a model (anything but ``describe`` and
``ping``) until it ends; with every place taken (after the grace wait) it gets an ``error``
(``too_many_sessions``) and is closed. Its ``handle`` turns count in /metrics as theirs do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from wyoming.asr import Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.ping import Pong

from assistant.doors import base
from assistant.doors.wyoming import events as ev
from assistant.doors.wyoming.handle import HandleSession
from assistant.doors.wyoming.info import Served, describe
from assistant.doors.wyoming.speak import Speaker
from assistant.doors.wyoming.wake import WakeListener
from assistant.doors.wyoming.wire import AudioIn, WireError, read_event
from assistant.errors import AssistantError
from assistant.models.hub import NoModel
from assistant.server.engine import Engine
from assistant.server.voice_slots import VoiceSlot

log = logging.getLogger("assistant.wyoming")
HEADER_LIMIT = 64 * 1024  # bytes of one event's JSON header line


class Refused(Exception):
    """Every voice session's place is taken: the connection ends."""


class WyomingSession:
    """One Wyoming connection."""

    def __init__(
        self,
        engine: Engine,
        served: Served,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.engine, self.served = engine, served
        self.hub, self.settings = engine.hub, engine.settings
        self.reader, self.writer = reader, writer
        self.peer = writer.get_extra_info("peername")
        self._audio: AudioIn | None = None
        self._language: str | None = None
        self._handle = HandleSession(engine)
        self._speaker = Speaker(self.hub, self.send)
        self._wake = WakeListener()  # after ``detect``, audio goes to the wake words instead
        self._slot: VoiceSlot | None = None  # taken at the first request that uses a model

    async def run(self) -> None:
        """Serve events until the client leaves or sends something it must not."""
        try:
            await self._serve()
        except Refused:
            log.info("wyoming client %s: refused, %s", self.peer, base.BUSY)
        except WireError as exc:
            log.warning("wyoming client %s: %s; connection closed", self.peer, exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.warning("wyoming client %s went away in the middle of an event", self.peer)
        except Exception as exc:  # a fault of ours: one line, and the other sessions go on
            log.error("wyoming client %s: %s: %s; connection closed", self.peer, type(exc), exc)
        finally:
            await self._close()

    async def _serve(self) -> None:
        limit = self.settings.server.wyoming_max_event_bytes
        while True:
            try:
                event = await read_event(self.reader, limit)
                if event is None:
                    return
                await self.handle(ev.parse(event))
            except ev.BadEvent as exc:  # the event is refused, the session goes on
                log.info("wyoming client %s: %s", self.peer, exc.text)
                await self.send(Error(text=exc.text, code=exc.code).event())
            except (AssistantError, NoModel) as exc:  # a model missing or failing, or the
                # chat model unloaded meanwhile: this request fails, the session goes on
                await self.send(Error(text=str(exc), code=type(exc).__name__).event())

    async def _close(self) -> None:
        if self._slot is not None:  # the client has gone: its place is free before the cleanup
            self._slot.release()
        # Also after a cancellation (shutdown): the conversation's tasks end before this does.
        with contextlib.suppress(Exception):
            await self._handle.close()
        self._wake.close()
        with contextlib.suppress(Exception):
            self.writer.close()
            await self.writer.wait_closed()

    async def send(self, event: Event) -> None:
        """Write one event to the client."""
        await async_write_event(event, self.writer)

    async def _admit(self) -> None:
        """Hold a voice session's place from the first request that uses a model on.

        As the WebSocket doors do (doors/base.py); without one, an ``error`` event and the
        connection ends (``Refused``).
        """
        if self._slot is None:
            self._slot = await base.take_slot(self.engine)
            if self._slot is None:
                await self.send(Error(text=base.BUSY, code="too_many_sessions").event())
                raise Refused

    async def handle(self, data: ev.Data) -> None:
        """Answer one checked event."""
        if not isinstance(data, ev.Describe | ev.Ping):
            await self._admit()
        match data:
            case ev.Describe():
                await self.send(describe(self.served, self.hub.name).event())
            case ev.Ping():
                await self.send(Pong(text=data.text).event())
            case ev.Transcribe():
                self._language = data.language
            case ev.AudioStart() | ev.AudioChunk() | ev.AudioStop():
                await self._audio_event(data)
            case ev.Synthesize():
                language = self._voice(data.voice)
                if not self._speaker.streaming:  # else the same text is on its way as a stream
                    await self._speaker.speak_all(data.text, language)
            case ev.SynthesizeStart():
                await self._speaker.start(self._voice(data.voice))
            case ev.SynthesizeChunk():
                await self._speaker.chunk(data.text)
            case ev.SynthesizeStop():
                await self._speaker.stop()
            case ev.Transcript():
                await self._handle.answer(data.text, self.send)
            case ev.Detect():
                if (refusal := self._wake.listen_for(data.names)) is not None:
                    await self.send(refusal)

    def _voice(self, voice: ev.Voice | None) -> str | None:
        if voice is None:
            return None
        return self.served.voice_for(voice.name, voice.language, voice.speaker)

    async def _audio_event(self, data: ev.AudioStart | ev.AudioChunk | ev.AudioStop) -> None:
        if self._wake.active:
            await self._wake.audio(data, self.send)
            return
        max_s = self.settings.server.max_audio_s
        if isinstance(data, ev.AudioStart):
            self._audio = AudioIn(data.rate, data.width, data.channels, max_s)
        elif isinstance(data, ev.AudioChunk):
            if self._audio is None:  # audio-start is optional: the chunk says the format
                self._audio = AudioIn(data.rate, data.width, data.channels, max_s)
            self._audio.add(data.audio)
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


class WyomingServer:
    """The listening socket and the sessions of its clients."""

    def __init__(self, engine: Engine, served: Served) -> None:
        self.engine, self.served = engine, served
        self.server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client, as a task the server can cancel at shutdown."""
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        try:
            await WyomingSession(self.engine, self.served, reader, writer).run()
        except asyncio.CancelledError:
            # ``close`` cancelled it and waits for it; ending cancelled, it would be logged
            # with a traceback by asyncio's stream protocol, which asks every such task for
            # its exception.
            pass
        finally:
            if task is not None:
                self._sessions.discard(task)

    async def close(self) -> None:
        """Stop listening, then cancel every session and wait until each has ended."""
        if self.server is not None:
            self.server.close()
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()


async def start_wyoming(engine: Engine) -> WyomingServer:
    """Listen for Wyoming clients on ``server.wyoming_host``:``server.wyoming_port``."""
    s = engine.settings.server
    wyoming = WyomingServer(engine, await asyncio.to_thread(Served.resolve, engine.settings))
    wyoming.server = await asyncio.start_server(
        wyoming.connected, s.wyoming_host, s.wyoming_port, limit=HEADER_LIMIT
    )
    return wyoming
