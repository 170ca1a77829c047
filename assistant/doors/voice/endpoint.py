"""Voice over WebSocket at ``/ws/voice``: the live conversation pipeline, over a socket.

The client streams microphone audio as binary messages: 16 kHz mono signed 16-bit
little-endian PCM by default, or any compressed stream PyAV decodes (WebM/Opus from a
browser's MediaRecorder, Ogg, MP3...) with ``?format=encoded``. The server runs the same
stages as `assistant chat` (noise gate, VAD, STT, LLM, clause chunker, TTS, barge-in) and
sends back JSON text messages and reply audio as binary messages:

- ``{"type": "ready", "input": {...}, "output": {"format": "pcm_s16le", "sample_rate": 24000,
  "channels": 1, "header": "turn_id uint32 LE, sequence uint32 LE"}}`` once, first;
- ``state`` (listening/hearing/thinking/speaking), ``transcript`` (``final`` false while the
  user speaks and at a pause, with ``stable``: the words of ``text`` that are confirmed, which
  only grow within an utterance; true for the turn), ``token``, ``reply`` (the whole text and
  finish reason), ``interrupted`` (``heard``: the part of the reply played before the user
  spoke over it), ``merged`` (the user went on right after the turn: drop its bubbles and
  audio, its words open the next turn), ``turn`` (timings), ``error``;
- binary: an 8-byte header (turn id, sequence) followed by the PCM samples.

Text messages from the client: ``{"type": "end"}`` (the input is over: the last utterance is
finished and the connection closes after the last reply), ``{"type": "interrupt"}`` (stop
the current reply, e.g. a stop button), ``{"type": "text", "text"}`` (typed words: a turn of
the same conversation, answered aloud; a reply being given stops first) and, when
a vision model is configured (``ready`` says ``"vision": true``), ``{"type": "image", "data"}``
(base64 or a ``data:`` URI; the following turns are about it, answered by the vision model,
until ``"data": null``). Echo cancellation is the client's job (browsers do it
in getUserMedia); playback is assumed to run in real time from the first audio of a turn, which
is what ``heard`` and barge-in go by. Each connection has its own chat context (the model's
weights are shared); ``server.max_voice_sessions`` connections at once, more are refused
(doors/base.py). A text message is checked whole before it is used (voice/client.py); a bad
one gets an ``error`` naming the field (``param``), and the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from assistant.convert.stream import StreamDecoder
from assistant.doors import base
from assistant.doors.socket_audio import RATE, SocketSink, SocketSource
from assistant.doors.voice import client
from assistant.errors import InputError, ModelError, UserError
from assistant.models.hub import NoModel
from assistant.models.loaders import Models
from assistant.models.seeing import Eyes, SeeingChatModel
from assistant.pipeline import events
from assistant.pipeline.conversation import Conversation, Observers
from assistant.pipeline.events import Event
from assistant.pipeline.turns import TurnReport
from assistant.pipeline.voice import Live
from assistant.server.engine import Engine
from assistant.server.pictures import show_picture
from assistant.server.voice_slots import VoiceSlot
from assistant.server.wire_check import BadMessage, first_line

router = APIRouter()
log = logging.getLogger("assistant.voice")


class VoiceSession:
    """One voice connection: a conversation, and the events it forwards to the client."""

    def __init__(self, socket: WebSocket, engine: Engine, models: Models) -> None:
        self.socket, self.engine = socket, engine
        self.send_lock = asyncio.Lock()
        self.source = SocketSource(engine.settings.server.voice_max_lead_s)
        self.sink = SocketSink(socket, self.send_lock)
        self.seeing = models.llm if isinstance(models.llm, SeeingChatModel) else None
        observers = base.observers(
            engine,
            Observers(
                on_turn=self._on_turn,
                on_state=lambda state: self._send_later({"type": "state", "state": state}),
            ),
        )
        self.conversation = Conversation(
            engine.settings, models, self.source, self.sink, observers=observers, live=Live()
        )
        self.conversation.bus.listen(self._on_event)  # after the state: its message goes first
        self._pending: set[asyncio.Task[None]] = set()

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
        turn = event.turn_id
        match event:
            case events.PartialTranscript(text=text, stable=stable):
                message = {"type": "transcript", "final": False, "text": text, "stable": stable}
                self._send_later(message)
            case events.Transcript(text=text):
                self._send_later(
                    {"type": "transcript", "final": True, "turn_id": turn, "text": text}
                )
            case events.LlmToken(text=text):
                self._send_later({"type": "token", "turn_id": turn, "token": text})
            case events.ReplyDone(text=text, finish_reason=reason):
                self._send_later(
                    {"type": "reply", "turn_id": turn, "text": text, "finish_reason": reason}
                )
            case events.Interrupted(heard=heard):
                self._send_later({"type": "interrupted", "turn_id": turn, "heard": heard})
            case events.ToolCalled() | events.ToolResult():
                self._send_later({"type": event.kind, "turn_id": turn, **event.fields()})
            case events.Merged():  # taken back: the user went on, its words open the next turn
                self._send_later({"type": "merged", "turn_id": turn})
            case events.StageFailed(message=message):
                self._send_later({"type": "error", "code": "PIPELINE_ERROR", "error": message})

    def _on_turn(self, report: TurnReport) -> None:
        self._send_later({"type": "turn", **report.to_json()})

    async def show(self, picture: str | None) -> None:
        """Talk about ``picture`` from the next turn on (None: stop); see ``show_picture``."""
        await show_picture(self.engine, self.seeing, picture)

    async def flush(self) -> None:
        """Wait until queued messages went out."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


@router.websocket("/ws/voice")
async def voice(socket: WebSocket) -> None:
    """Serve one voice conversation."""
    await base.serve_socket(socket, _serve, _close_with_error, log)


async def _serve(socket: WebSocket, slot: VoiceSlot) -> None:
    engine: Engine = socket.app.state.engine
    encoded = socket.query_params.get("format", "pcm16") == "encoded"
    eyes = Eyes() if engine.settings.vision.configured else None  # pictures come from the client
    async with engine.hub.conversation(eyes) as models:
        session = VoiceSession(socket, engine, models)
        await session.send(_ready(engine, encoded))
        await session.conversation.start()
        await _receive(socket, session, StreamDecoder(RATE) if encoded else None, slot)


def _ready(engine: Engine, encoded: bool) -> dict[str, Any]:
    rate = engine.settings.audio.output_sample_rate
    source = "any format PyAV decodes" if encoded else "pcm_s16le"
    return {
        "type": "ready",
        "vision": engine.settings.vision.configured,
        "input": {"format": source, "sample_rate": RATE, "channels": 1},
        "output": {
            "format": "pcm_s16le",
            "sample_rate": rate,
            "channels": 1,
            "header": "turn_id uint32 LE, sequence uint32 LE",
        },
    }


async def _receive(
    socket: WebSocket, session: VoiceSession, decoder: StreamDecoder | None, slot: VoiceSlot
) -> None:
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
                await session.source.pace()
            elif not await _control(session, message.get("text") or ""):
                finished = True
                break
    except WebSocketDisconnect:
        pass
    finally:
        if not finished:  # the client has gone: its place is free before the cleanup
            slot.release()
        await _finish(socket, session, decoder, finished)


async def _finish(
    socket: WebSocket, session: VoiceSession, decoder: StreamDecoder | None, graceful: bool
) -> None:
    if not graceful:  # nobody is listening any more: stop at once
        await base.end_conversation(session.conversation, "client gone")
        await session.flush()  # messages queued for a closed socket: each fails at once
        return
    if decoder is not None:
        with contextlib.suppress(InputError):
            for pcm in decoder.close():
                session.source.feed(pcm)
    session.source.end()
    try:
        await session.conversation.wait()
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
        checked = client.message(text, session.engine.settings.server.max_ws_message_bytes)
    except BadMessage as exc:
        code = "TOO_LARGE" if exc.code == "message_too_large" else "BAD_REQUEST"
        await session.send(_error(code, str(exc), exc.param))
        return True
    if checked.type == "end":
        return False
    try:
        await _command(session, checked)
    except (ModelError, NoModel) as exc:  # a ModelError is a UserError too: before it
        await session.send(_error("MODEL_NOT_FOUND", str(exc)))
    except UserError as exc:
        await session.send(_error("BAD_REQUEST", str(exc)))
    except Exception as exc:  # a bug: one log line and an error, the session goes on
        log.error("/ws/voice: internal error on %r: %s", checked.type, first_line(exc))
        await session.send(_error("INTERNAL", "the server failed on this message"))
    return True


async def _command(session: VoiceSession, message: client.Message) -> None:
    match message:
        case client.Text(text=words):
            await session.conversation.say(words)
        case client.Image(data=picture):
            await session.show(picture)
        case client.Message(type="interrupt"):
            await session.conversation.interrupt()


def _error(code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"type": "error", "code": code, "error": message, "param": param}
