"""Voice over WebSocket at ``/ws/voice``: the live conversation pipeline, over a socket.

The client streams microphone audio as binary messages: 16 kHz mono signed 16-bit
little-endian PCM by default, or any compressed stream PyAV decodes (WebM/Opus from a
browser's MediaRecorder, Ogg, MP3...) with ``?format=encoded``. The server runs the same
stages as `assistant chat` (noise gate, VAD, STT, LLM, clause chunker, TTS, barge-in) and
sends back JSON text messages and reply audio as binary messages:

- ``{"type": "ready", "input": {...}, "output": {"format": "pcm_s16le", "sample_rate": 24000,
  "channels": 1, "header": "turn_id uint32 LE, sequence uint32 LE"}}`` once, first;
- ``state`` (listening/hearing/thinking/speaking), ``transcript`` (``final`` false at a pause,
  true for the turn), ``token``, ``reply`` (the whole text and finish reason), ``interrupted``
  (``heard``: the part of the reply played before the user spoke over it), ``turn`` (timings),
  ``error``;
- binary: an 8-byte header (turn id, sequence) followed by the PCM samples.

Text messages from the client: ``{"type": "end"}`` (the input is over: the last utterance is
finished and the connection closes after the last reply) and ``{"type": "interrupt"}`` (stop
the current reply, e.g. a stop button). Echo cancellation is the client's job (browsers do it
in getUserMedia); playback is assumed to run in real time from the first audio of a turn, which
is what ``heard`` and barge-in go by. Each connection has its own chat context (the model's
weights are shared); ``server.max_voice_sessions`` connections at once, more are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from assistant.convert.stream import StreamDecoder
from assistant.errors import AssistantError, InputError
from assistant.interfaces import Pcm16
from assistant.loader import Models
from assistant.pipeline.events import Event
from assistant.pipeline.frames import AudioFrame, Frame, InterruptFrame, ReplyAudioFrame
from assistant.pipeline.heard import ReplyLedger
from assistant.pipeline.pipeline import FrameSource, Pipeline
from assistant.pipeline.stages.sink import AudioSink
from assistant.pipeline.state import StateTracker
from assistant.pipeline.turns import TurnRecorder, TurnReport
from assistant.pipeline.voice import voice_stages
from assistant.server.engine import Engine
from assistant.server.text import VoiceModel
from assistant.server.ws import admit

router = APIRouter()
HEADER = struct.Struct("<II")  # turn id, sequence number of the audio message
RATE = 16000


class SocketSource(FrameSource):
    """Audio frames from the socket's binary messages (16 kHz mono PCM, after decoding)."""

    def __init__(self) -> None:
        super().__init__("socket-source")
        self._audio: asyncio.Queue[Pcm16 | None] = asyncio.Queue()
        self._pts = 0.0

    def feed(self, pcm: Pcm16) -> None:
        """Queue samples that just arrived."""
        if pcm.size:
            self._audio.put_nowait(pcm)

    def end(self) -> None:
        """No more audio will come."""
        self._audio.put_nowait(None)

    async def frames(self) -> AsyncIterator[Frame]:
        """Yield the audio as it arrives."""
        while (pcm := await self._audio.get()) is not None:
            yield AudioFrame(pcm=pcm, sample_rate=RATE, pts=self._pts, wall=time.monotonic())
            self._pts += len(pcm) / RATE


class SocketSink(AudioSink):
    """Sends reply audio as binary messages; the client is taken to play it in real time."""

    def __init__(self, socket: WebSocket, send_lock: asyncio.Lock) -> None:
        super().__init__("socket-sink")
        self.socket, self.send_lock = socket, send_lock
        self._sequence = 0
        self.ledger = ReplyLedger()
        self._started: dict[int, float] = {}  # turn -> monotonic time its first audio went out
        self._rate = 0  # Hertz of the reply audio

    async def deliver(self, frame: ReplyAudioFrame) -> None:
        """Send one piece of reply audio with its header."""
        self._started.setdefault(frame.turn_id, time.monotonic())
        self._rate = frame.sample_rate
        self.ledger.add(frame)
        self._sequence += 1
        payload = HEADER.pack(frame.turn_id, self._sequence) + frame.pcm.astype("<i2").tobytes()
        async with self.send_lock:
            await self.socket.send_bytes(payload)

    async def end_of_turn(self, turn_id: int) -> None:
        """Wait until the client has played the turn (so speech meanwhile is a barge-in)."""
        if turn_id in self._started and self._rate:
            sent_s = sum(len(c.pcm) for c in self.ledger.chunks(turn_id)) / self._rate
            await asyncio.sleep(max(0.0, self._started[turn_id] + sent_s - time.monotonic()))
        self._forget(turn_id)

    async def on_interrupt(self, turn_id: int) -> None:
        """The user spoke over the reply: tell the client to stop, report what was heard."""
        if turn_id in self._started and self._rate:
            played = int((time.monotonic() - self._started[turn_id]) * self._rate)
            for chunk in self.ledger.chunks(turn_id):
                chunk.played = min(len(chunk.pcm), max(0, played))
                played -= len(chunk.pcm)
        heard = self.ledger.heard(turn_id)
        self._forget(turn_id)
        self.bus.publish("interrupted", turn_id, heard=heard, silent_wall=time.monotonic())

    def _forget(self, turn_id: int) -> None:
        self.ledger.forget(turn_id)
        for turn in [t for t in self._started if t <= turn_id]:
            del self._started[turn]


class VoiceSession:
    """One voice connection: its pipeline, and the events it forwards to the client."""

    def __init__(self, socket: WebSocket, engine: Engine, models: Models) -> None:
        self.socket, self.engine = socket, engine
        self.send_lock = asyncio.Lock()
        self.source = SocketSource()
        self.sink = SocketSink(socket, self.send_lock)
        settings = engine.settings
        self.pipeline = Pipeline(voice_stages(settings, models, self.source, self.sink, live=True))
        TurnRecorder(self.pipeline.bus, self._on_turn)
        StateTracker(
            self.pipeline.bus, lambda state: self._send_later({"type": "state", "state": state})
        )
        self.pipeline.bus.listen(self._on_event)
        self._pending: set[asyncio.Task[None]] = set()
        self._turn = 0  # the latest turn

    def _send_later(self, message: dict[str, Any]) -> None:
        task = asyncio.ensure_future(self.send(message))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message (dropped once the client has gone)."""
        with contextlib.suppress(Exception):
            async with self.send_lock:
                await self.socket.send_text(json.dumps(message))

    def _on_event(self, event: Event) -> None:
        kind, data, turn = event.kind, event.data, event.turn_id
        if kind == "utterance":
            self._turn = turn
        if kind == "partial_transcript":
            self._send_later({"type": "transcript", "final": False, "text": data["text"]})
        elif kind == "transcript":
            self._send_later(
                {"type": "transcript", "final": True, "turn_id": turn, "text": data["text"]}
            )
        elif kind == "llm_token":
            self._send_later({"type": "token", "turn_id": turn, "token": data["text"]})
        elif kind == "reply_done":
            self._send_later(
                {
                    "type": "reply",
                    "turn_id": turn,
                    "text": data["text"],
                    "finish_reason": data["finish_reason"],
                }
            )
        elif kind == "interrupted":
            self._send_later({"type": "interrupted", "turn_id": turn, "heard": data["heard"]})
        elif kind == "error":
            self._send_later({"type": "error", "code": "PIPELINE_ERROR", "error": data["message"]})

    def _on_turn(self, report: TurnReport) -> None:
        self.engine.metrics.voice_turns.inc()
        v2v = report.timings_ms().get("voice_to_voice")
        if v2v is not None:
            self.engine.metrics.voice_to_voice.observe(v2v / 1000)
        self._send_later({"type": "turn", **report.to_json()})

    async def interrupt(self) -> None:
        """Stop the reply being given (a stop button)."""
        if self._turn:
            await self.pipeline.queue_frame(InterruptFrame(turn_id=self._turn))

    async def flush(self) -> None:
        """Wait until queued messages went out."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


@router.websocket("/ws/voice")
async def voice(socket: WebSocket) -> None:
    """Serve one voice conversation."""
    app = socket.app
    engine: Engine = app.state.engine
    if not await admit(socket):
        return
    if not engine.loaded:
        await socket.close(code=1011, reason="no chat model is loaded; POST /api/models/load")
        return
    if engine.voice_sessions >= engine.settings.server.max_voice_sessions:
        await socket.close(code=1013, reason="too many voice sessions; try again later")
        return
    await socket.accept()
    encoded = socket.query_params.get("format", "pcm16") == "encoded"
    engine.voice_sessions += 1
    engine.metrics.voice_sessions.inc()
    chat: VoiceModel | None = None
    try:
        chat, models = await _models(engine)
        session = VoiceSession(socket, engine, models)
        await session.send(_ready(engine, encoded))
        await session.pipeline.start()
        await _receive(socket, session, StreamDecoder(RATE) if encoded else None)
    except AssistantError as exc:  # a speech model missing or broken: say so, then close
        await _close_with_error(socket, "MODEL_NOT_FOUND", str(exc))
    finally:
        engine.voice_sessions -= 1
        engine.metrics.voice_sessions.dec()
        if chat is not None:
            chat.close()


async def _models(engine: Engine) -> tuple[VoiceModel, Models]:
    """A chat model of this connection's own, and the shared speech models."""
    chat = await engine.text.voice_model()
    stt, tts = await engine.speech_models()
    return chat, Models(stt=stt, llm=chat, tts=tts)


def _ready(engine: Engine, encoded: bool) -> dict[str, Any]:
    rate = engine.settings.audio.output_sample_rate
    source = "any format PyAV decodes" if encoded else "pcm_s16le"
    return {
        "type": "ready",
        "input": {"format": source, "sample_rate": RATE, "channels": 1},
        "output": {
            "format": "pcm_s16le",
            "sample_rate": rate,
            "channels": 1,
            "header": "turn_id uint32 LE, sequence uint32 LE",
        },
    }


async def _receive(socket: WebSocket, session: VoiceSession, decoder: StreamDecoder | None) -> None:
    """Feed the pipeline until the client says ``end`` (replies finish) or goes away (stop)."""
    limit = session.engine.settings.server.max_ws_message_bytes
    finished = False
    try:
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if (data := message.get("bytes")) is not None:
                if len(data) > limit:
                    await session.send(
                        _error("TOO_LARGE", f"audio messages are limited to {limit} bytes")
                    )
                    continue
                await _audio(session, decoder, data)
            elif not await _control(session, message.get("text") or ""):
                finished = True
                break
    except WebSocketDisconnect:
        pass
    finally:
        await _finish(socket, session, decoder, finished)


async def _finish(
    socket: WebSocket, session: VoiceSession, decoder: StreamDecoder | None, graceful: bool
) -> None:
    if not graceful:  # nobody is listening any more: stop at once
        await session.pipeline.cancel("client gone")
        with contextlib.suppress(Exception):
            await session.pipeline.wait()
        return
    if decoder is not None:
        with contextlib.suppress(InputError):
            for pcm in decoder.close():
                session.source.feed(pcm)
    session.source.end()
    try:
        await session.pipeline.wait()
    except Exception as exc:  # a stage failed; its error event already went to the client
        await session.flush()
        await _close_with_error(socket, "PIPELINE_ERROR", str(exc))
        return
    await session.flush()
    with contextlib.suppress(Exception):
        await socket.close()


async def _close_with_error(socket: WebSocket, code: str, message: str) -> None:
    """Report a failure of the session and close the connection (1011)."""
    with contextlib.suppress(Exception):
        await socket.send_text(json.dumps(_error(code, message)))
        await socket.close(code=1011, reason=message[:120])


async def _audio(session: VoiceSession, decoder: StreamDecoder | None, data: bytes) -> None:
    if decoder is None:
        if len(data) % 2:
            await session.send(_error("BAD_AUDIO", "PCM messages must hold whole 16-bit samples"))
            return
        session.source.feed(np.frombuffer(data, "<i2").astype(np.int16))
        return
    try:
        for pcm in decoder.feed(data):
            session.source.feed(pcm)
    except InputError as exc:
        await session.send(_error("BAD_AUDIO", str(exc)))


async def _control(session: VoiceSession, text: str) -> bool:
    """Handle a text message; False when the client said the input is over."""
    try:
        message = json.loads(text)
        kind = message.get("type") if isinstance(message, dict) else None
    except ValueError:
        kind = None
    if kind == "end":
        return False
    if kind == "interrupt":
        await session.interrupt()
    elif kind != "ping":
        await session.send(
            _error("BAD_REQUEST", "text messages are {'type': 'end' | 'interrupt' | 'ping'}")
        )
    return True


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "error": message}
