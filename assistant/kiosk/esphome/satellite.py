"""The kiosk as a Home Assistant voice satellite: what the ESPHome API server's messages do.

The server (server.py) speaks the protocol; this answers it. Home Assistant is the brain
while it is subscribed to the voice assistant: the wake word starts its runs (runs.py) and
the local models stay quiet. When it is not connected, the kiosk answers locally, as without
``--home-assistant``, and its status says so. Announcements, media and timers play on the
kiosk's speaker (playback.py, timers.py); a heard wake word is "stop" for whatever plays or
rings (no stop-word model ships on the registry).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aioesphomeapi import api_pb2 as pb
from google.protobuf.message import Message

from assistant.kiosk.esphome import entities
from assistant.kiosk.esphome.entities import MediaState
from assistant.kiosk.esphome.media import MediaPlayer
from assistant.kiosk.esphome.playback import RING_NOTES, Playback
from assistant.kiosk.esphome.runs import VoiceRuns
from assistant.kiosk.esphome.server import Connection
from assistant.kiosk.esphome.timers import Timers
from assistant.models.wake_word import WAKE_WORDS

log = logging.getLogger("assistant.kiosk")
# Voice assistant, audio over the API, timers, announcements, start_conversation.
FEATURES = 1 | 4 | 8 | 16 | 32


class Satellite:
    """Home Assistant's voice satellite: entities, voice runs, announcements and timers."""

    def __init__(self, wake_word: str, chime: bool, ring_s: float) -> None:
        self.wake_word = wake_word  # Home Assistant may choose another built-in one
        self.media = MediaState()
        self.mic_muted = False
        self.playback = Playback(self.media)
        self.player = MediaPlayer(self.playback, lambda *msgs: self.broadcast(*msgs))
        self.runs = VoiceRuns(self.playback, chime, self._spawn)
        self.timers = Timers(ring_s)
        self.broadcast: Callable[..., None] = lambda *messages: None  # the server's, once bound
        self.announcements = 0
        self._subscriber: Connection | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def connected(self) -> bool:
        """Whether Home Assistant listens to this satellite's runs (else: answer locally)."""
        return self._subscriber is not None

    def status(self) -> dict[str, Any]:
        """What /health and the kiosk status show of Home Assistant."""
        return {
            "connected": self.connected,
            "peer": self._subscriber.peer if self._subscriber else None,
            "answering": "home_assistant" if self.connected else "local",
            "state": self.runs.state,
            "wake_word": self.wake_word,
            "runs": self.runs.runs,
            "announcements": self.announcements,
            "microphone_muted": self.mic_muted,
            "volume": round(self.media.volume, 2),
            "timers": self.timers.to_json(),
        }

    # -- what the pipeline tells it (the gate stage) --

    def woken(self) -> bool:
        """The wake word was heard; True when the satellite took it (stop, or a run)."""
        if self.timers.ringing or self.playback.playing:
            silenced = self.timers.silence()
            self.playback.stop()
            log.info("stopped by the wake word", extra={"fields": {"timers": silenced}})
            if silenced:
                return True  # "stop" for a ringing timer opens no run
        return self.runs.start(self.wake_word.replace("_", " "))

    # -- the server's Handler --

    def entities(self) -> list[Message]:
        """The media player and the mute switch."""
        return entities.entity_list()

    def states(self) -> list[Message]:
        """Their states now."""
        return [entities.media_message(self.media), entities.mute_message(self.mic_muted)]

    def on_message(self, conn: Connection, msg: Message) -> None:
        """Dispatch one message from Home Assistant."""
        match msg:
            case pb.SubscribeVoiceAssistantRequest(subscribe=subscribe):
                self._subscribe(conn, subscribe)
            case pb.VoiceAssistantResponse() if conn is self._subscriber:
                self.runs.on_response(msg)
            case pb.VoiceAssistantEventResponse() if conn is self._subscriber:
                self.runs.on_event(msg)
            case pb.VoiceAssistantAnnounceRequest():
                self._spawn(self._announce(conn, msg))
            case pb.VoiceAssistantTimerEventResponse():
                if self.timers.on_event(msg) is not None:
                    self._spawn(self._ring())
            case pb.VoiceAssistantConfigurationRequest():
                conn.send(wake_word_configuration(self.wake_word))
            case pb.VoiceAssistantSetConfiguration(active_wake_words=chosen):
                self._choose_wake_word(list(chosen))
            case pb.MediaPlayerCommandRequest(key=entities.MEDIA_PLAYER_KEY):
                if url := self.player.command(msg):
                    self._spawn(self.player.play(url))
            case pb.SwitchCommandRequest(key=entities.MUTE_KEY, state=state):
                self._mute(state)

    def on_disconnect(self, conn: Connection) -> None:
        """A connection ended; if it was the subscriber, the kiosk answers locally again."""
        if conn is self._subscriber:
            self._subscriber = None
            self.runs.disconnected()
            log.info("Home Assistant disconnected: answering locally")

    async def close(self) -> None:
        """Stop playing and end every task."""
        self.playback.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def _subscribe(self, conn: Connection, subscribe: bool) -> None:
        if subscribe:
            self._subscriber = conn  # the newest connection wins (Home Assistant reconnecting)
            self.runs.send = conn.send
            log.info("Home Assistant subscribed: it answers the wake word now")
        elif conn is self._subscriber:
            self.on_disconnect(conn)

    def _choose_wake_word(self, chosen: list[str]) -> None:
        known = [name for name in chosen if name in WAKE_WORDS]
        if known and known[0] != self.wake_word:
            self.wake_word = known[0]
            log.info("wake word set by Home Assistant", extra={"fields": {"wake_word": known[0]}})

    def _mute(self, muted: bool) -> None:
        self.mic_muted = muted
        if muted:
            self.runs.abort("the microphone was muted")
        self.broadcast(entities.mute_message(muted))

    async def _announce(self, conn: Connection, request: pb.VoiceAssistantAnnounceRequest) -> None:
        """Chime, message, ``announce_finished``; then listen if asked to."""
        self.announcements += 1
        self.runs.state = "announcing"
        played = True
        if request.preannounce_media_id:
            played = await self.player.play(request.preannounce_media_id)
        if played:
            played = await self.player.play(request.media_id)
        conn.send(pb.VoiceAssistantAnnounceFinished(success=played))
        self.runs.state = "idle" if self.runs.run is None else self.runs.state
        if played and request.start_conversation and not self.runs.start():
            log.info("announcement asked to listen, but Home Assistant is not subscribed")

    async def _ring(self) -> None:
        """Ring while a finished timer rings (until "stop" or its ``ring_s``)."""
        while self.timers.ringing:
            if not await self.playback.play_notes(RING_NOTES) and self.playback.player is None:
                await asyncio.sleep(1.0)  # no speaker now (restarting): try again shortly

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("satellite task failed: %s", exc)


def wake_word_configuration(active: str) -> Message:
    """The built-in wake words offered to Home Assistant, and the one listened for."""
    words = [
        pb.VoiceAssistantWakeWord(id=name, wake_word=name.replace("_", " ").title(),
                                  trained_languages=["en"])
        for name in WAKE_WORDS
    ]  # fmt: skip
    answer: Message = pb.VoiceAssistantConfigurationResponse(
        available_wake_words=words, active_wake_words=[active], max_active_wake_words=1
    )
    return answer
