"""VAD stage: audio frames in, one UtteranceFrame per turn out; each starts a turn.

While the user speaks it also sends the utterance so far (``SpeechProgressFrame``, with
``VadConfig.progress_ms``) for recognition as it goes, except while a reply is being made.

With ``barge_in`` the stage also watches the turn in progress (from its utterance until the
sink reports it played, or until it is interrupted): speech starting during that time sends an
InterruptFrame for it downstream, which overtakes its data in every stage and stops playback.

How a turn ends depends on ``turns``: without it, after a fixed hangover of silence; with it
(an end-of-turn model, ``vad.end_of_turn = "model"``) as ``TentativeTurns`` decides (see
pipeline/stages/tentative.py).
"""

from __future__ import annotations

from collections import deque

from assistant.audio.vad import (
    SpeechPaused,
    SpeechProgress,
    SpeechResumed,
    SpeechStarted,
    Utterance,
    VadConfig,
    VadEvent,
    VadSegmenter,
)
from assistant.pipeline import events
from assistant.pipeline.events import EventBus
from assistant.pipeline.frames import (
    AudioFrame,
    DataFrame,
    EndFrame,
    InterruptFrame,
    SpeechPauseFrame,
    SpeechProgressFrame,
    UtteranceFrame,
)
from assistant.pipeline.processor import ErrorHandler, FrameProcessor
from assistant.pipeline.stages.tentative import TentativeTurns
from assistant.pipeline.turn_taking import TurnTaking
from assistant.pipeline.turns import TurnLedger
from assistant.types import Pcm16

_WALL_HISTORY = 1000  # audio frames remembered to map stream time to wall-clock time


class VadStage(FrameProcessor):
    """Segments the input with webrtcvad; publishes ``speech_started`` and ``utterance``."""

    def __init__(
        self,
        config: VadConfig,
        barge_in: bool = False,
        turns: TurnTaking | None = None,
        ledger: TurnLedger | None = None,
    ) -> None:
        """``ledger`` numbers the turns, shared with whoever opens typed ones (default: own)."""
        super().__init__("vad")
        self.segmenter = VadSegmenter(config)
        self.sample_rate = config.sample_rate
        self.barge_in = barge_in
        self.turns = turns
        self._own_ledger = ledger is None
        self.ledger = ledger or TurnLedger()
        self._walls: deque[tuple[float, float]] = deque(maxlen=_WALL_HISTORY)  # (end pts, wall)
        self._frame = config.sample_rate * config.frame_ms // 1000
        # with an end-of-turn model: tentative turns, their confirmation and merging
        self.tentative = TentativeTurns(self, turns) if turns is not None else None

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; follow turns to their end to know when speech is a barge-in."""
        await super().start(bus, on_error)
        if self._own_ledger:
            self.ledger.follow(bus)
        if self.tentative is not None:
            bus.listen(self.tentative.on_event)

    async def cleanup(self) -> None:
        """Let a running end-of-turn decision finish in the background."""
        if self.tentative is not None:
            self.tentative.close()

    async def process_frame(self, frame: DataFrame) -> None:
        """Feed audio to the segmenter, a VAD frame at a time; flush it at the end of the input."""
        if isinstance(frame, AudioFrame):
            if frame.sample_rate != self.sample_rate:
                raise ValueError(f"VAD needs {self.sample_rate} Hz audio, got {frame.sample_rate}")
            self._walls.append((frame.end, frame.wall))
            vad_pcm = frame.vad_pcm
            # One frame at a time: a decision taken at an event sees the segmenter as it was.
            for i in range(0, len(frame.pcm), self._frame):
                piece = slice(i, i + self._frame)
                gated = vad_pcm[piece] if vad_pcm is not None else None
                for event in self.segmenter.feed(frame.pcm[piece], gated):
                    await self._emit(event)
            return
        if isinstance(frame, EndFrame):
            for event in self.segmenter.flush():
                await self._emit(event)
        await self.push_frame(frame)

    async def _emit(self, event: VadEvent) -> None:
        if isinstance(event, SpeechStarted):
            await self._speech_started(event)
        elif isinstance(event, SpeechResumed):
            if self.tentative is not None:
                await self.tentative.retract()
        elif isinstance(event, SpeechPaused):
            await self._paused(event)
        elif isinstance(event, SpeechProgress):
            # A reply being made owns the other core (a file, half duplex): no recognition
            # meanwhile; with barge-in that reply was interrupted as the speech began.
            if not self.ledger.answering:
                frame = SpeechProgressFrame(audio=event.audio, start=event.start, end=event.end)
                await self.push_frame(frame)
        else:
            await self._utterance(event)

    async def _speech_started(self, event: SpeechStarted) -> None:
        self.bus.publish(events.SpeechStarted(start=event.start))
        if self.tentative is not None and await self.tentative.merge(event):
            return
        if self.barge_in and self.ledger.answering:
            await self._interrupt(event)

    async def _paused(self, event: SpeechPaused) -> None:
        if self.tentative is not None:
            await self.tentative.paused(event)
        else:  # transcribe speculatively while the hangover runs
            frame = SpeechPauseFrame(audio=event.audio, start=event.start, end=event.end)
            await self.push_frame(frame)

    async def _utterance(self, event: Utterance) -> None:
        if self.tentative is not None and await self.tentative.ended(event):
            return
        turn = self.ledger.answer(self.ledger.new())
        await self.send(turn, event.audio, event.start, event.end, forced=event.forced)

    async def send(
        self,
        turn: int,
        audio: Pcm16,
        start: float,
        end: float,
        forced: bool = False,
        tentative: bool = False,
    ) -> None:
        """Publish the utterance of ``turn`` and send it downstream."""
        wall = self.wall_at(end)
        self.bus.publish(
            events.Utterance(
                turn_id=turn, start=start, end=end, speech_end_wall=wall, forced=forced
            )
        )
        frame = UtteranceFrame(
            turn_id=turn,
            audio=audio,
            sample_rate=self.sample_rate,
            start=start,
            end=end,
            speech_end_wall=wall,
            tentative=tentative,
        )
        await self.push_frame(frame)

    async def _interrupt(self, event: SpeechStarted) -> None:
        turn = self.ledger.interrupt_all()
        self.bus.publish(
            events.BargeIn(
                turn_id=turn,
                onset_wall=self.wall_at(event.start),
                detected_wall=self.wall_at(event.detected_at),
            )
        )
        await self.push_frame(InterruptFrame(turn_id=turn))

    def wall_at(self, pts: float) -> float:
        """The monotonic time at which stream time ``pts`` was captured."""
        for end, wall in self._walls:
            if end >= pts:
                return wall - (end - pts)
        end, wall = self._walls[-1]
        return wall - (end - pts)
