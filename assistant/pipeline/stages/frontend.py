"""Front end stage: microphone audio in, cleaned audio and a gated copy for the VAD out.

Order: echo cancellation and noise suppression (WebRTC, against what the speaker played),
then the noise gate, whose output only the VAD sees; utterances are cut from the cleaned,
ungated audio so soft first syllables are kept. Without barge-in the VAD hears nothing while
the assistant speaks (half duplex). Without echo cancellation but with barge-in the gate is
raised by ``echo_gate_db`` while the assistant speaks, so only speech louder than its own
voice interrupts it. With push-to-talk the VAD hears only while the key is down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from assistant.audio.gate import GateConfig, NoiseGate
from assistant.audio.playback import Player
from assistant.audio.processing import AudioProcessor
from assistant.convert.resample import StreamResampler
from assistant.interfaces import Pcm16
from assistant.pipeline.frames import AudioFrame, DataFrame
from assistant.pipeline.processor import FrameProcessor

ECHO_TAIL_S = 0.5  # the echo path (room, loopback) may lag the speaker by this much
MAX_REFERENCE_LAG_S = 0.25  # reference backlog beyond this is dropped to stay in step
_FRAME_MS = 10


@dataclass(frozen=True)
class FrontEndConfig:
    """What the front end does (from AudioSettings)."""

    sample_rate: int = 16000
    barge_in: bool = True
    echo_cancellation: bool = True
    noise_suppression: bool = False
    echo_gate_db: float = 20.0
    gate: GateConfig = field(default_factory=GateConfig)


class FrontEndStage(FrameProcessor):
    """Cleans and gates microphone frames; ``speaker`` supplies the echo reference."""

    def __init__(
        self,
        config: FrontEndConfig,
        speaker: Player | None = None,
        push_to_talk: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__("frontend")
        self.config = config
        self.speaker = speaker
        self.push_to_talk = push_to_talk  # when given, the VAD hears only while it says so
        self.gate = NoiseGate(config.sample_rate, config.gate)
        self.frame = config.sample_rate * _FRAME_MS // 1000
        self.echo = config.echo_cancellation and speaker is not None
        wants_processing = self.echo or config.noise_suppression
        self.processor = (
            AudioProcessor(config.sample_rate, self.echo, config.noise_suppression)
            if wants_processing
            else None
        )
        self._reference = (
            StreamResampler(speaker.sample_rate, config.sample_rate) if speaker else None
        )
        self._reference_due = 0.0
        self._pending = np.zeros(0, np.int16)
        self._pts: float | None = None

    async def process_frame(self, frame: DataFrame) -> None:
        """Clean and gate audio; forward everything else."""
        if not isinstance(frame, AudioFrame):
            await self.push_frame(frame)
            return
        if self._pts is None:
            self._pts = frame.pts
        pcm = np.concatenate([self._pending, frame.pcm]) if self._pending.size else frame.pcm
        usable = len(pcm) - len(pcm) % self.frame
        pcm, self._pending = pcm[:usable], pcm[usable:].copy()
        if not usable:
            return
        clean = self.processor.process(pcm, self._reference_for(usable)) if self.processor else pcm
        await self.push_frame(
            AudioFrame(
                pcm=clean,
                vad_pcm=self._vad_input(clean, frame.wall),
                sample_rate=frame.sample_rate,
                pts=self._pts,
                wall=frame.wall,
            )
        )
        self._pts += usable / frame.sample_rate

    def _vad_input(self, clean: Pcm16, wall: float) -> Pcm16:
        speaking = self.speaker is not None and wall < self.speaker.sound_until + ECHO_TAIL_S
        held = self.push_to_talk is not None and not self.push_to_talk()
        if held or (speaking and not self.config.barge_in):
            self.gate.process(clean)  # keep the gate's timing; the VAD hears nothing
            return np.zeros_like(clean)
        raise_db = self.config.echo_gate_db if speaking and not self.echo else 0.0
        return self.gate.process(clean, raise_db)

    def _reference_for(self, samples: int) -> Pcm16 | None:
        """What the speaker played over the time these microphone samples took, resampled."""
        if not self.echo or self.speaker is None or self.speaker.reference is None:
            return None
        ring, rate = self.speaker.reference, self.speaker.sample_rate
        self._reference_due += samples * rate / self.config.sample_rate
        take = int(self._reference_due)
        self._reference_due -= take
        backlog = ring.available - take
        if backlog > MAX_REFERENCE_LAG_S * rate:
            ring.read(backlog)  # playback ran ahead (e.g. it started first): skip to stay close
        assert self._reference is not None
        return self._reference.process(ring.read(take))
