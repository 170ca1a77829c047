"""The OpenAI Realtime API at ``/v1/realtime``: a thin adapter over the voice conversation.

The same ``Conversation`` as ``/ws/voice`` and `assistant chat` runs behind it: client events
become audio, typed words and commands for it, and its events become server events
(realtime/events.py). The session's settings (realtime/config.py) choose how it is built:
with turn detection, audio goes through the VAD and the end-of-turn model and every turn is
answered; without (``turn_detection: null``), the client commits the audio buffer, which is
transcribed into a user item, and asks for each reply with ``response.create``. A change of
the session's turn taking, modalities, prompt or tools rebuilds the conversation between
replies, keeping its history. The session's function tools are the client's to run
(realtime/tools.py); without any, spoken turns have the server's own voice tools. Every client
event is checked whole before it is acted on (realtime/client.py: bounded JSON, typed fields);
a bad one gets an ``error`` event naming the field (``param``) and the event (``event_id``),
and the session goes on as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from assistant.doors import base
from assistant.doors.realtime.audio import AudioIn, AudioOut
from assistant.doors.realtime.client import check_event, event_id
from assistant.doors.realtime.config import RealtimeConfig, response_options
from assistant.doors.realtime.events import Emitter
from assistant.doors.realtime.hold import HeldTurns
from assistant.doors.realtime.input import append, clear, commit
from assistant.doors.realtime.items import SpokenReplies, create, delete, retrieve, truncate
from assistant.doors.realtime.sink import RealtimeSink
from assistant.doors.realtime.tools import (
    ClientCalls,
    client_policy,
    follows_output,
)
from assistant.doors.socket_audio import SocketSource
from assistant.errors import AssistantError, UserError
from assistant.models.hub import NoModel
from assistant.models.loaders import Models
from assistant.models.seeing import Eyes, SeeingChatModel
from assistant.pipeline.context import ConversationContext
from assistant.pipeline.conversation import Conversation
from assistant.pipeline.voice import Live
from assistant.server.engine import Engine
from assistant.server.voice_slots import VoiceSlot
from assistant.server.wire_check import BadMessage, first_line, loads

router = APIRouter()
log = logging.getLogger("assistant.realtime")


class RealtimeSession:
    """One Realtime connection: its settings, its conversation and the events between."""

    def __init__(self, socket: WebSocket, engine: Engine, models: Models) -> None:
        self.socket, self.engine, self.models = socket, engine, models
        self.names = {role: name for role, (name, _) in engine.hub.on_disk.items()}
        prompt = engine.settings.llm.system_prompt
        self.config = RealtimeConfig(instructions=prompt, voice=self.names.get("tts", "default"))
        self.emitter = Emitter(self._send, audio=True)
        self.conversation: Conversation | None = None
        self.source: SocketSource | None = None
        self.audio_in = AudioIn(self.config.input_format)
        self.buffer: list[np.ndarray] = []  # manual turns: audio not yet committed
        self.spoken = SpokenReplies()
        self.seeing = models.llm if isinstance(models.llm, SeeingChatModel) else None

    async def _send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # the client has gone
            await self.socket.send_text(json.dumps(message))

    def describe(self) -> dict[str, Any]:
        """The session as the client sees it."""
        stt, tokens = self.names.get("stt", "whisper"), self.engine.settings.llm.max_tokens
        return self.config.to_json(self.engine.hub.name, stt, tokens)

    async def build(self, config: RealtimeConfig) -> None:
        """(Re)build the conversation as ``config`` says, keeping the history.

        Its settings are made first: a config they refuse changes nothing.
        """
        try:
            settings = config.settings(self.engine.settings)
        except ValidationError as exc:  # the Realtime models hold the same ranges: a backstop
            raise BadMessage(f"session: {first_line(exc)}", param="session") from None
        old, self.config = self.conversation, config
        await base.end_conversation(old, "session updated")
        audio = self.config.modalities == ["audio"]
        models = self.models if audio else dataclasses.replace(self.models, tts=None)
        self.emitter.audio = audio
        audio_out = AudioOut(self.config.output_format, _out_rate(settings))
        sink = RealtimeSink(self.emitter, audio_out, self.spoken)
        manual = self.config.turn_detection is None
        self.source = None if manual else SocketSource(settings.server.voice_max_lead_s)
        self.audio_in = AudioIn(self.config.input_format)
        observers = base.observers(self.engine)
        detection = self.config.turn_detection or {}
        held = None
        if detection and detection.get("create_response") is False:
            held = HeldTurns(lambda text: self.conversation_now().add_user(text))
        # the history goes on; a fresh context, since the new conversation counts turns anew
        context = ConversationContext(old.history) if old is not None else None
        self.conversation = Conversation(
            settings,
            models,
            self.source,
            sink,
            observers=observers,
            live=Live(),
            between=held,
            tools=client_policy(self.config.tools, self.config.tool_choice),
            context=context,
        )
        self.conversation.bus.listen(self.emitter.on_event)
        self.conversation.bus.listen(ClientCalls(self.emitter).on_event)
        await self.conversation.start()

    async def close(self) -> None:
        """Stop at once (the client has gone); the outbox's task ends even if this is cancelled."""
        try:
            await base.end_conversation(self.conversation, "client gone")
        finally:
            await self.emitter.close()

    def error(self, message: str, code: str = "invalid_value", event_id: str | None = None,
              param: str | None = None, kind: str = "invalid_request_error") -> None:  # fmt: skip
        """An ``error`` event about a client event (OpenAI's shape)."""
        self.emitter.emit("error", error={"type": kind, "code": code, "message": message,
                                          "param": param, "event_id": event_id})  # fmt: skip

    async def handle(self, event: dict[str, Any]) -> None:
        """One client event, checked whole before it is acted on; a bad one gets an ``error``."""
        given = event_id(event)
        try:
            await _HANDLERS[check_event(event, _HANDLERS)](self, event)
        except BadMessage as exc:
            self.error(str(exc), exc.code, given, exc.param)
        except UserError as exc:
            self.error(str(exc), event_id=given)
        except (AssistantError, NoModel) as exc:  # a model missing or failing: said, not logged
            self.error(str(exc), "server_error", given, None, "server_error")
        except Exception as exc:  # a bug: one log line and an error event, never a lost session
            log.error(
                "/v1/realtime: internal error on %.40r: %s", event.get("type"), first_line(exc)
            )
            self.error("the server failed on this event", "server_error", given, None,
                       "server_error")  # fmt: skip

    async def session_update(self, event: dict[str, Any]) -> None:
        """``session.update``: check and build the new settings, then apply, ``session.updated``."""
        if self.emitter.active() is not None:
            raise UserError("the session cannot change while a response is in progress")
        await self.build(self.config.updated(event["session"]))
        self.emitter.emit("session.updated", session=self.describe())

    async def create_response(self, event: dict[str, Any]) -> None:
        """``response.create``: a reply to the conversation as it stands."""
        if self.emitter.active() is not None:
            raise UserError("a response is already in progress; cancel it first")
        options = event.get("response") or {}
        request = response_options(options, self.config)
        if request.tool_choice is None and follows_output(self.emitter.items):
            request = dataclasses.replace(request, follows_result=True)
        await self.conversation_now().respond(request)

    async def cancel(self, event: dict[str, Any]) -> None:
        """``response.cancel``: stop the reply being given."""
        if (response := self.emitter.active()) is None:
            raise UserError("no response is in progress")
        response.cancel_reason = "client_cancelled"
        await self.conversation_now().interrupt()

    def conversation_now(self) -> Conversation:
        """The conversation as the session is now configured."""
        assert self.conversation is not None
        return self.conversation


_HANDLERS = {
    "session.update": RealtimeSession.session_update,
    "input_audio_buffer.append": append,
    "input_audio_buffer.commit": commit,
    "input_audio_buffer.clear": clear,
    "conversation.item.create": create,
    "response.create": RealtimeSession.create_response,
    "response.cancel": RealtimeSession.cancel,
    "conversation.item.retrieve": retrieve,
    "conversation.item.delete": delete,
    "conversation.item.truncate": truncate,
}


def _out_rate(settings: Any) -> int:
    return int(settings.audio.output_sample_rate)


@router.websocket("/v1/realtime")
async def realtime(socket: WebSocket) -> None:
    """Serve one Realtime API session."""
    await base.serve_socket(socket, _serve, _close, log)


async def _serve(socket: WebSocket, slot: VoiceSlot) -> None:
    engine: Engine = socket.app.state.engine
    eyes = Eyes() if engine.settings.vision.configured else None  # pictures come in items
    async with engine.hub.conversation(eyes) as models:
        session = RealtimeSession(socket, engine, models)
        try:
            await session.build(session.config)
            session.emitter.emit("session.created", session=session.describe())
            await _receive(socket, session)
            slot.release()  # the client has gone: its place is free before the cleanup
        finally:
            await session.close()


async def _close(socket: WebSocket, _code: str, message: str) -> None:
    """The Realtime door's failure: a close (1011) whose reason says why."""
    await base.close_socket(socket, base.Close(1011, message))


async def _receive(socket: WebSocket, session: RealtimeSession) -> None:
    limit = session.engine.settings.server.max_ws_message_bytes
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                session.error("events are JSON text messages", "invalid_event")
                continue
            try:
                event = loads(text, limit)
            except BadMessage as exc:
                session.error(str(exc), exc.code, None, exc.param)
                continue
            await session.handle(event)
