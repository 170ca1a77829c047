"""Front end stage: microphone audio in, cleaned audio and a gated copy for the VAD out.

Order: echo cancellation (WebRTC AEC3, against what the speaker played), then, for the VAD
only, noise suppression and the noise gate; utterances are cut from the echo-cancelled but
otherwise untouched audio, so soft first syllables are kept and Whisper, which transcribes
noisy speech better than denoised speech, gets the real signal.

Without barge-in the VAD hears nothing while the assistant speaks (half duplex). Without echo
cancellation but with barge-in the gate is raised by ``echo_gate_db`` while the assistant
speaks, so only speech louder than its own voice interrupts it. With echo cancellation the
gate is raised to the loudest reference of the last 0.3 s minus ``residual_db``: the
echo the canceller lets through while it adapts (a moving echo path, the first words) stays
below that, while a user talking over the reply, whose voice the canceller keeps, is far
above it. Over the first two seconds of playback in a session, while the canceller learns the
echo path, the margin is 10 dB instead. While nothing of the speaker reaches the microphone
(headphones; see echo_path), the raw microphone is used and the gate is not raised. Sound
that the echo of anything written to the speaker in the last second could explain never
starts a barge-in: on a loaded machine the speaker lags its timestamps, so the aligned
reference alone would miss late echo. With push-to-talk the VAD hears only while the key is
down.

The gate measures the room over the first ``calibrate_ms`` of audio, and is closed meanwhile.
That audio is held back, not dropped: once the floor is known it is gated like the rest and sent
on, so the first words of someone who talks as soon as the microphone opens reach the VAD (a
one-off delay of ``calibrate_ms`` at the start of the input).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from assistant.audio.echo_path import EchoPath
from assistant.audio.echo_reference import ECHO_TAIL_S, SOUND_DBFS, EchoReference
from assistant.audio.framing import FRAME_MS, Framer
from assistant.audio.gate import GateConfig, NoiseGate, level_dbfs
from assistant.audio.playback import Player
from assistant.audio.processing import AudioProcessor
from assistant.pipeline.events import AudioStatus, Event, EventBus
from assistant.pipeline.frames import AudioFrame, DataFrame, EndFrame
from assistant.pipeline.processor import ErrorHandler, FrameProcessor
from assistant.types import Pcm16

log = logging.getLogger(__name__)
# Sound written to the speaker up to this long before a microphone frame (beyond the latency
# the device reports) may be echoing in it: on a loaded machine playback lags the device's
# timestamps and reported latency (measured: echo 0.36 s after the reported end of playback,
# and echo of sound the timestamps placed in the future, through ALSA's PulseAudio plugin).
ECHO_WINDOW_S = 1.0
RECENT_FRAMES = int(ECHO_TAIL_S * 1000 / FRAME_MS)  # playback the echo bar follows
# Until the canceller has heard LEARN_S of playback it does not know the echo path yet, and
# lets more through: meanwhile only sound within LEARNING_RESIDUAL_DB of the playback counts.
LEARN_S = 2.0
LEARNING_RESIDUAL_DB = 10.0


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class _Cleaned:
    """Echo-cancelled audio on its way to the gate, with what the gate needs to know of it."""

    pcm: Pcm16
    echo_only: list[bool]  # per frame: the echo alone may explain it
    sample_rate: int  # Hertz
    pts: float  # stream seconds
    wall: float  # monotonic seconds when it was captured


@dataclass(frozen=True)
class FrontEndConfig:
    """What the front end does (from AudioSettings)."""

    sample_rate: int = 16000
    barge_in: bool = True
    echo_cancellation: bool = True
    noise_suppression: bool = False
    echo_gate_db: float = 20.0
    residual_db: float = 20.0
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
        self.frame = config.sample_rate * FRAME_MS // 1000
        self.echo = config.echo_cancellation and speaker is not None
        self.processor = (
            AudioProcessor(config.sample_rate, echo=True, noise=False) if self.echo else None
        )
        self.denoiser = (
            AudioProcessor(config.sample_rate, echo=False, noise=True)
            if config.noise_suppression
            else None
        )
        self.reference = (
            EchoReference(speaker, config.sample_rate, self.frame)
            if self.echo and speaker is not None
            else None
        )
        self.echo_path = EchoPath()
        self._framer = Framer(self.frame)
        self._pts: float | None = None
        self._held: list[_Cleaned] = []  # echo-cancelled audio waiting for the gate's floor

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; a reopened device may be another one, with another echo path."""
        await super().start(bus, on_error)
        bus.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, AudioStatus) and event.reopened:  # not an overflow
            self.echo_path = EchoPath()

    def echo_known(self) -> bool:
        """Whether speech over the start of a reply can be told from the reply's echo.

        Always, without a canceller (nothing is learnt); with one, once the echo path is known.
        """
        return not self.echo or self.echo_path.known

    async def process_frame(self, frame: DataFrame) -> None:
        """Clean and gate audio; forward everything else."""
        if not isinstance(frame, AudioFrame):
            if isinstance(frame, EndFrame):  # an input shorter than the calibration
                self.gate.settle()
                await self._release()
            await self.push_frame(frame)
            return
        if self._pts is None:
            self._pts = frame.pts
        pcm = self._framer.push(frame.pcm)
        usable = len(pcm)
        if not usable:
            return
        end_time = None
        if frame.device_time is not None:  # the processed part ends before what is held back
            end_time = frame.device_time - self._framer.held / frame.sample_rate
        reference = self.reference.read(usable, end_time) if self.reference else None
        clean, echo_only = self._cancel_echo(pcm, reference, frame.wall)
        self._held.append(_Cleaned(clean, echo_only, frame.sample_rate, self._pts, frame.wall))
        self._pts += usable / frame.sample_rate
        if self.gate.calibrating:  # what is said meanwhile is gated once the floor is known
            self.gate.learn(clean)
            if self.gate.calibrating:
                return
        await self._release()

    async def _release(self) -> None:
        """Gate the audio held back (all of it but during the calibration) and send it on."""
        held, self._held = self._held, []
        for part in held:
            vad_pcm = self._vad_input(part.pcm, part.wall, part.echo_only)
            await self.push_frame(
                AudioFrame(
                    pcm=part.pcm,
                    vad_pcm=vad_pcm,
                    sample_rate=part.sample_rate,
                    pts=part.pts,
                    wall=part.wall,
                )
            )

    def _cancel_echo(
        self, pcm: Pcm16, reference: Pcm16 | None, wall: float
    ) -> tuple[Pcm16, list[bool]]:
        """The canceller's output, and per frame whether the sound may be echo alone.

        While the microphone hears no echo at all, the raw microphone stands in for the output.
        """
        if self.processor is None or self.speaker is None:
            return pcm, []
        clean = self.processor.process(pcm, reference)  # it keeps adapting either way
        loudest = max(self._levels(), default=-100.0)  # echoes of it may still come
        judged = self.echo_path.absent
        source = self.speaker.loudest_written(wall - self.speaker.latency - ECHO_WINDOW_S)
        bar = self.gate.threshold_dbfs
        echo_only = self.echo_path.judge(loudest, source, pcm, clean, bar, self.frame)
        if self.echo_path.absent and not judged:
            log.debug("no echo of the speaker in the microphone: the canceller steps aside")
        return (pcm if self.echo_path.absent else clean), echo_only

    def _vad_input(self, clean: Pcm16, wall: float, echo_only: list[bool]) -> Pcm16:
        if self.denoiser is not None:
            clean = self.denoiser.process(clean)
        speaking = echo_possible(self.speaker, wall)
        if not speaking:
            self.echo_path.reset()
        held = self.push_to_talk is not None and not self.push_to_talk()
        if held or (speaking and not self.config.barge_in):
            self.gate.process(clean)  # keep the gate's timing; the VAD hears nothing
            return np.zeros_like(clean)
        raise_db = self._echo_bar_db() if speaking else 0.0
        was_open = self.gate.is_open
        gated = self.gate.process(clean, raise_db)
        if not speaking:
            return gated
        for k, echo in enumerate(echo_only):  # what echo alone explains never starts a barge-in
            if echo:
                gated[k * self.frame : (k + 1) * self.frame] = 0
        if self.gate.is_open and not was_open:
            log.debug(
                "gate opened while speaking: %.1f dBFS, bar %.1f dBFS",
                level_dbfs(clean),
                self.gate.threshold_dbfs + raise_db,
            )
        return gated

    def _levels(self) -> list[float]:
        return list(self.reference.levels) if self.reference is not None else []

    def _echo_bar_db(self) -> float:
        """How far the gate is raised while the assistant speaks (see the module docstring)."""
        if not self.echo:
            return self.config.echo_gate_db
        if self.echo_path.absent:
            return 0.0
        learning = self.reference is None or self.reference.sound_s < LEARN_S
        below = LEARNING_RESIDUAL_DB if learning else self.config.residual_db
        recent = self._levels()[-RECENT_FRAMES:]
        return max(0.0, max(recent, default=-100.0) - below - self.gate.threshold_dbfs)


def echo_possible(speaker: Player | None, wall: float) -> bool:
    """Whether the assistant's voice may still reach the microphone at ``wall``.

    After the reply ends, its echo rings on for ECHO_TAIL_S after the device's reckoning,
    or while anything loud was written within ECHO_WINDOW_S. After a barge-in it does not
    count: the user is talking by then, and a raised gate would chop their words.
    """
    if speaker is None:
        return False
    if speaker.stopped_at >= speaker.sound_until:
        return wall < speaker.sound_until
    if wall < speaker.sound_until + ECHO_TAIL_S:
        return True
    since = max(wall - speaker.latency - ECHO_WINDOW_S, speaker.stopped_at)
    return speaker.loudest_written(since) > SOUND_DBFS
