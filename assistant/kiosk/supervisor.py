"""Keeps the live conversation running: start it, watch it, and bring it back after a failure.

One run is the pipeline of `assistant chat` on the configured microphone and speaker, with the
server's shared models (one copy of the weights for the kiosk and every HTTP client). A run
ends when the microphone or speaker stays away past ``audio.device_retry_s``, when a model
fails, or on anything else that stops a stage; the kiosk then reports ``recovering``, waits
(1 s, doubling to 30 s; back to 1 s after a run that lasted a minute) and starts again. It
stops only when told to (SIGTERM / Ctrl+C).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.config import Settings
from assistant.kiosk.esphome.gate import SatelliteGate
from assistant.kiosk.esphome.satellite import Satellite
from assistant.kiosk.wake import WakeStage
from assistant.kiosk.wake_word import WakeWordStage
from assistant.models.hub import ModelHub
from assistant.models.seeing import eyes_for
from assistant.models.wake_word import WakeWordDetector
from assistant.pipeline.conversation import Conversation, Observers
from assistant.pipeline.events import Event, NoSpeech, StageFailed, WakeWordHeard
from assistant.pipeline.turns import TurnReport
from assistant.pipeline.voice import Live

if TYPE_CHECKING:
    from assistant.pipeline.stages.live import MicSource

log = logging.getLogger("assistant.kiosk")
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0
HEALTHY_RUN_S = 60.0  # a run this long resets the backoff


@dataclass
class KioskHooks:
    """What the kiosk tells whoever runs it (the server beside it counts these)."""

    on_turn: Callable[[TurnReport], object] = lambda report: None  # may return a future
    on_restart: Callable[[], None] = lambda: None
    on_wake: Callable[[], None] = lambda: None


class Kiosk:
    """The always-on conversation; ``status`` is what /health reports of it."""

    def __init__(
        self,
        hub: ModelHub,
        settings: Settings,
        wake_phrase: str = "",
        hooks: KioskHooks | None = None,
        satellite: Satellite | None = None,
    ) -> None:
        self.hub, self.settings, self.wake_phrase = hub, settings, wake_phrase
        self.hooks = hooks or KioskHooks()
        self.satellite = satellite  # Home Assistant's voice satellite (--home-assistant)
        self.status: dict[str, Any] = {
            "state": "starting",
            "turns": 0,
            "restarts": 0,
            "last_error": None,
            "wake_phrase": wake_phrase or None,
            "wake_word": settings.kiosk.wake_word or None,
            "wakes": 0,
        }

    def report(self) -> dict[str, Any]:
        """The status, with Home Assistant's side when the kiosk is its satellite."""
        if self.satellite is None:
            return self.status
        return {**self.status, "home_assistant": self.satellite.status()}

    async def run(self, stop: asyncio.Event) -> None:
        """Run conversations until ``stop`` is set, restarting each one that fails."""
        delay = FIRST_RETRY_S
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self._conversation(stop)
            except Exception as exc:  # whatever stopped it, the kiosk goes on
                self._failed(exc)
            if stop.is_set():
                break
            if time.monotonic() - started > HEALTHY_RUN_S:
                delay = FIRST_RETRY_S
            self._set("recovering", retry_in_s=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, MAX_RETRY_S)
        self._set("stopped")

    def _failed(self, exc: Exception) -> None:
        self.status["restarts"] += 1
        self.status["last_error"] = f"{type(exc).__name__}: {exc}"
        self.hooks.on_restart()
        log.error("conversation stopped: %s", exc, extra={"fields": {"error": str(exc)}})

    async def _conversation(self, stop: asyncio.Event) -> None:
        """One run of the live pipeline, until it fails or ``stop`` is set."""
        from assistant.pipeline.stages.live import local_devices

        _, mic, speaker = local_devices(self.settings.audio)
        async with self.hub.conversation(eyes_for(self.settings)) as models:
            phrase, word = self._wake_stages()
            conversation = Conversation(
                self.settings,
                models,
                mic,
                speaker,
                observers=self._observers(),
                live=Live(speaker.player),
                between=phrase,
                gate=word,
            )
            await conversation.start()
            if self.satellite is not None:  # Home Assistant's audio plays on this speaker
                self.satellite.playback.attach(speaker.player, conversation.ledger)
            try:
                await self._until_stopped(conversation, mic, stop)
            finally:
                if self.satellite is not None:
                    self.satellite.playback.detach()

    async def _until_stopped(
        self, conversation: Conversation, mic: MicSource, stop: asyncio.Event
    ) -> None:
        """Wait until the conversation fails or ``stop`` is set."""
        ended = asyncio.ensure_future(conversation.wait())
        stopping = asyncio.ensure_future(stop.wait())
        while mic.capture is None and not ended.done():  # listening once the mic is open
            await asyncio.sleep(0.05)
        if not ended.done():
            self._set("listening")
        await asyncio.wait({ended, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not ended.done():
            self._set("stopping")
            await conversation.cancel("stopping")
        stopping.cancel()
        await ended  # a stage's error is raised here

    def _wake_stages(self) -> tuple[WakeStage | None, WakeWordStage | None]:
        """The wake phrase (after STT) and the wake word (before the VAD), when set."""
        k = self.settings.kiosk
        phrase = WakeStage(self.wake_phrase, k.follow_up_s) if self.wake_phrase else None
        if self.satellite is not None:
            return phrase, SatelliteGate(self.satellite, k.follow_up_s)
        word = WakeWordStage(WakeWordDetector(k.wake_word), k.follow_up_s) if k.wake_word else None
        return phrase, word

    def _observers(self) -> Observers:
        observers = Observers(on_turn=self._on_turn, on_state=self._set)
        observers.bus.listen(self._on_event)
        return observers

    def _on_turn(self, report: TurnReport) -> None:
        self.status["turns"] += 1
        done = self.hooks.on_turn(report)  # the turn's memory goes back first (record_turn)

        def logged(_: object = None) -> None:
            log.info("turn", extra={"fields": {"turn": report.to_json()}})

        if isinstance(done, asyncio.Future):
            done.add_done_callback(logged)
        else:
            logged()

    def _on_event(self, event: Event) -> None:
        # Device news is logged where it happens (pipeline.stages.reconnect).
        if isinstance(event, StageFailed):
            log.error("%s failed: %s", event.stage, event.message)
        elif isinstance(event, NoSpeech) and event.reason:
            log.info("ignored a turn: %s", event.reason)
        elif isinstance(event, WakeWordHeard):
            self.status["wakes"] += 1
            log.info("wake word", extra={"fields": {"wake_word": event.name}})
            self.hooks.on_wake()

    def _set(self, state: str, **fields: Any) -> None:
        if state != self.status["state"]:
            self.status["state"] = state
            log.info("state: %s", state, extra={"fields": {"state": state, **fields}})
