"""The wake word gate: in front of the VAD, only a heard wake word lets a turn open.

Every audio frame goes to the wake word detector (a microWakeWord model, ~0.5 % of a core).
While the kiosk is asleep the VAD gets the frames with nothing in its copy of them (the
utterance audio and the frames' timing are untouched), so no turn opens and nothing is
transcribed. Once the word is heard (``WakeWordHeard`` on the bus) the VAD hears everything
until ``follow_up_s`` after the last turn ended (a reply played, an interruption, or an
utterance with no words), or ``follow_up_s`` after the wake word if no speech followed it. So
"Hey Jarvis, what time is it?" is one turn, "Hey Jarvis", a pause, then the question opens the
next turn, and a follow-up right after a reply needs no wake word, as with the wake phrase.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import numpy as np

from assistant.concurrency import call_in_thread, model_executor
from assistant.models.wake_word import WakeWordDetector
from assistant.pipeline import events
from assistant.pipeline.events import EventBus
from assistant.pipeline.frames import AudioFrame, DataFrame
from assistant.pipeline.processor import ErrorHandler, FrameProcessor


class WakeWordStage(FrameProcessor):
    """Lets the VAD hear only after the wake word, and for a while after each turn."""

    def __init__(self, detector: WakeWordDetector, follow_up_s: float = 8.0) -> None:
        super().__init__("wake-word")
        self.detector = detector
        self.follow_up_s = follow_up_s
        self._executor = model_executor("wake-word")
        self._awake_until = 0.0  # monotonic time the VAD stops hearing
        self._in_turn = False  # speech started while awake: awake until its turn ends

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; turns starting and ending keep the kiosk awake or let it sleep."""
        await super().start(bus, on_error)
        bus.listen(self._on_event)

    @property
    def awake(self) -> bool:
        """Whether the VAD hears the microphone now."""
        return self._in_turn or time.monotonic() < self._awake_until

    async def process_frame(self, frame: DataFrame) -> None:
        """Listen for the wake word in audio; pass the audio on, silenced for the VAD if asleep."""
        if not isinstance(frame, AudioFrame):
            await self.push_frame(frame)
            return
        if await self.hears_wake_word(frame):
            self._awake_until = time.monotonic() + self.follow_up_s
        await self.push_frame(frame if self.awake else unheard(frame))

    async def hears_wake_word(self, frame: AudioFrame) -> bool:
        """Whether the wake word ends in ``frame`` (``WakeWordHeard`` is published then)."""
        if await call_in_thread(self._executor, self.detector.hear, frame.pcm):
            self.bus.publish(events.WakeWordHeard(name=self.detector.name))
            return True
        return False

    def _on_event(self, event: events.Event) -> None:
        if isinstance(event, events.SpeechStarted) and self.awake:
            self._in_turn = True
        elif isinstance(event, events.TurnDone | events.Interrupted | events.NoSpeech):
            self._in_turn = False
            self._awake_until = time.monotonic() + self.follow_up_s

    async def cleanup(self) -> None:
        """Let the detector's thread finish, then free the detector."""
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown)
        self.detector.close()


def unheard(frame: AudioFrame) -> AudioFrame:
    """``frame`` with nothing in the VAD's copy (the audio itself and its timing unchanged)."""
    heard = frame.vad_pcm if frame.vad_pcm is not None else frame.pcm
    return dataclasses.replace(frame, vad_pcm=np.zeros_like(heard))
