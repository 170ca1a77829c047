"""The satellite's gate in front of the VAD: the wake word goes to Home Assistant when it listens.

While Home Assistant is subscribed, the local VAD hears nothing (Home Assistant answers, the
local models stay quiet) and a heard wake word starts a Home Assistant run whose audio this
stage streams. Otherwise it is the kiosk's ordinary wake word gate and the turn is answered
locally. A muted microphone hears neither the wake word nor anything else.
"""

from __future__ import annotations

import time

from assistant.concurrency import call_in_thread
from assistant.kiosk.esphome.satellite import Satellite
from assistant.kiosk.wake_word import WakeWordStage, unheard
from assistant.models.wake_word import WakeWordDetector
from assistant.pipeline.frames import AudioFrame, DataFrame


class SatelliteGate(WakeWordStage):
    """The wake word gate, handing runs to Home Assistant while it is connected."""

    def __init__(self, satellite: Satellite, follow_up_s: float) -> None:
        super().__init__(WakeWordDetector(satellite.wake_word), follow_up_s)
        self.satellite = satellite

    async def process_frame(self, frame: DataFrame) -> None:
        """Wake word first; then the audio to Home Assistant's run or the local VAD."""
        if not isinstance(frame, AudioFrame):
            await self.push_frame(frame)
            return
        sat = self.satellite
        if sat.mic_muted:
            await self.push_frame(unheard(frame))
            return
        if sat.wake_word != self.detector.name:  # chosen in Home Assistant
            await self._swap_detector(sat.wake_word)
        if await self.hears_wake_word(frame) and not sat.woken():
            self._awake_until = time.monotonic() + self.follow_up_s  # answered locally
        if sat.connected:
            sat.runs.hear(frame.pcm)
            frame = unheard(frame)
        elif not self.awake:
            frame = unheard(frame)
        await self.push_frame(frame)

    async def _swap_detector(self, name: str) -> None:
        old = self.detector
        self.detector = await call_in_thread(self._executor, WakeWordDetector, name)
        old.close()
