"""Voice runs with Home Assistant: the wake word starts one, its events drive the kiosk.

The run, as an ESPHome satellite runs it: ``VoiceAssistantRequest`` start, Home Assistant
answers port 0 (audio over the API), the microphone streams 16 kHz 16-bit mono in 1024-byte
chunks until ``STT_VAD_END`` (or ``STREAM_LIMIT_S``), then ``TTS_END`` brings the reply's URL,
played on the kiosk's speaker and acknowledged with ``VoiceAssistantAnnounceFinished``. When
``INTENT_END`` says the conversation continues, the next run opens without the wake word.
An ``ERROR`` event ends the run with the error chime and one log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aioesphomeapi import api_pb2 as pb
from google.protobuf.message import Message

from assistant.kiosk.esphome.playback import ERROR_NOTES, WAKE_NOTES, MediaError, Playback
from assistant.types import Pcm16

log = logging.getLogger("assistant.kiosk")
CHUNK_BYTES = 1024  # 512 samples, 32 ms: what ESPHome devices send
STREAM_LIMIT_S = 30.0  # a run whose end of speech never comes stops streaming then
ANSWER_TIMEOUT_S = 5.0  # Home Assistant answers a start request within this, or the run fails

Send = Callable[[Message], None]


@dataclass
class Run:
    """One run: what was sent, what Home Assistant said."""

    number: int
    started: float  # monotonic
    accepted: bool = False  # Home Assistant answered the start request
    streaming: bool = True  # the microphone goes to Home Assistant
    reply_url: str = ""
    continues: bool = False  # INTENT_END asked for another turn without the wake word


class VoiceRuns:
    """Starts runs, streams their audio, and follows their events."""

    def __init__(self, playback: Playback, chime: bool, spawn: Callable[[Any], None]) -> None:
        self.playback, self.chime, self._spawn = playback, chime, spawn
        self.send: Send | None = None  # the subscribed connection's (None: no Home Assistant)
        self.run: Run | None = None
        self.runs = 0
        self.conversation_id = ""
        self.state = "idle"
        self._pending = bytearray()

    def start(self, wake_word: str = "") -> bool:
        """Open a run (the wake word, or a conversation going on); False without a subscriber."""
        if self.send is None:
            return False
        self.playback.stop()
        self.runs += 1
        self.run = Run(self.runs, time.monotonic())
        self._pending.clear()
        request = pb.VoiceAssistantRequest(
            start=True,
            conversation_id=self.conversation_id,
            flags=pb.VOICE_ASSISTANT_REQUEST_USE_VAD,
            wake_word_phrase=wake_word,
        )
        self.send(request)
        self.state = "streaming"
        log.info("voice run %d started", self.runs, extra={"fields": {"wake_word": wake_word}})
        if self.chime:
            self._spawn(self.playback.play_notes(WAKE_NOTES))
        return True

    def hear(self, pcm: Pcm16) -> None:
        """Microphone audio: streamed while the run listens, in Home Assistant's chunks."""
        run = self.run
        if run is None or not run.streaming or self.send is None:
            return
        if time.monotonic() - run.started > STREAM_LIMIT_S:
            self._stop_streaming(run, "the end of speech never came")
            self.send(pb.VoiceAssistantAudio(end=True))
            return
        if not run.accepted and time.monotonic() - run.started > ANSWER_TIMEOUT_S:
            self._fail(run, "Home Assistant did not answer the start request")
            return
        self._pending += pcm.astype("<i2").tobytes()
        while run.accepted and len(self._pending) >= CHUNK_BYTES:
            self.send(pb.VoiceAssistantAudio(data=bytes(self._pending[:CHUNK_BYTES])))
            del self._pending[:CHUNK_BYTES]

    def on_response(self, answer: pb.VoiceAssistantResponse) -> None:
        """Home Assistant's answer to the start request: port 0 is audio over the API."""
        run = self.run
        if run is None or run.accepted:
            return
        if answer.error or answer.port:
            reason = "refused" if answer.error else f"asked for UDP audio on port {answer.port}"
            self._fail(run, f"Home Assistant {reason}")
            if answer.port and self.send is not None:
                self.send(pb.VoiceAssistantRequest(start=False))
            return
        run.accepted = True

    def on_event(self, event: pb.VoiceAssistantEventResponse) -> None:
        """A run event: it moves the run on."""
        run = self.run
        data = {item.name: item.value for item in event.data}
        if run is None:
            return
        match event.event_type:
            case pb.VOICE_ASSISTANT_STT_VAD_END | pb.VOICE_ASSISTANT_STT_END:
                self._stop_streaming(run, "")
            case pb.VOICE_ASSISTANT_INTENT_END:
                self.conversation_id = data.get("conversation_id", self.conversation_id)
                run.continues = data.get("continue_conversation") in ("1", "true", "True")
            case pb.VOICE_ASSISTANT_TTS_END if data.get("url"):
                run.reply_url = data["url"]
                self.state = "replying"
                self._spawn(self._reply(run))
            case pb.VOICE_ASSISTANT_ERROR:
                message = data.get("message") or data.get("code") or "no message"
                self._fail(run, f"Home Assistant reported an error: {message}")
            case pb.VOICE_ASSISTANT_RUN_END:
                self._stop_streaming(run, "")
                if not run.reply_url:
                    self._end(run)

    def disconnected(self) -> None:
        """The subscriber left: a run going on ends, the kiosk answers locally again."""
        self.send = None
        if self.run is not None:
            log.info("voice run %d ended: Home Assistant disconnected", self.run.number)
            self._end(self.run)

    def abort(self, why: str) -> None:
        """End the run going on (Home Assistant aborts its pipeline too)."""
        run = self.run
        if run is not None:
            if self.send is not None:
                self.send(pb.VoiceAssistantRequest(start=False))
            log.info("voice run %d aborted: %s", run.number, why)
            self._end(run)

    def _stop_streaming(self, run: Run, why: str) -> None:
        if run.streaming:
            run.streaming = False
            self.state = "thinking"
            if why:
                log.info("voice run %d stopped streaming: %s", run.number, why)

    def _fail(self, run: Run, error: str) -> None:
        log.warning("voice run %d failed: %s", run.number, error)
        self._end(run)
        if self.chime:
            self._spawn(self.playback.play_notes(ERROR_NOTES))

    def _end(self, run: Run) -> None:
        run.streaming = False
        if self.run is run:
            self.run, self.state = None, "idle"

    async def _reply(self, run: Run) -> None:
        """Play the reply, tell Home Assistant it was played, and go on if asked to."""
        try:
            played = await self.playback.play_url(run.reply_url)
        except MediaError as exc:
            log.warning("voice run %d: the reply could not be played: %s", run.number, exc)
            played = False
        if self.send is not None:
            self.send(pb.VoiceAssistantAnnounceFinished(success=played))
        stale = self.run is not None and self.run is not run  # a newer run took over
        if not stale:
            self._end(run)
            if played and run.continues:
                self.start()
