"""VAD stage: audio frames in, one UtteranceFrame per stretch of speech out; each starts a turn.

With ``barge_in`` the stage also watches the turn in progress (from its utterance until the
sink reports it played, or until it is interrupted): speech starting during that time sends an
InterruptFrame for it downstream, which overtakes its data in every stage and stops playback.
"""

from __future__ import annotations

import itertools
from collections import deque

from assistant.audio.vad import SpeechPaused, SpeechStarted, VadConfig, VadEvent, VadSegmenter
from assistant.pipeline.events import Event, EventBus
from assistant.pipeline.frames import (
    AudioFrame,
    DataFrame,
    EndFrame,
    InterruptFrame,
    SpeechPauseFrame,
    UtteranceFrame,
)
from assistant.pipeline.processor import ErrorHandler, FrameProcessor

_WALL_HISTORY = 1000  # audio frames remembered to map stream time to wall-clock time


class VadStage(FrameProcessor):
    """Segments the input with webrtcvad; publishes ``speech_started`` and ``utterance``."""

    def __init__(self, config: VadConfig, barge_in: bool = False) -> None:
        super().__init__("vad")
        self.segmenter = VadSegmenter(config)
        self.sample_rate = config.sample_rate
        self.barge_in = barge_in
        self._turn_ids = itertools.count(1)
        self._walls: deque[tuple[float, float]] = deque(maxlen=_WALL_HISTORY)  # (end pts, wall)
        self._open_turns: set[int] = set()  # answered turns not yet played to the end

    def open_turn(self) -> int:
        """A new turn id for a turn that did not come from speech (typed words).

        The turn counts as answered until it has been played, so speech meanwhile is a
        barge-in as with a spoken question.
        """
        turn = next(self._turn_ids)
        self._open_turns.add(turn)
        return turn

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; follow turns to their end to know when speech is a barge-in."""
        await super().start(bus, on_error)
        bus.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.kind in ("turn_done", "no_speech", "interrupted"):
            self._open_turns.discard(event.turn_id)

    async def process_frame(self, frame: DataFrame) -> None:
        """Feed audio to the segmenter; flush it at the end of the input."""
        if isinstance(frame, AudioFrame):
            if frame.sample_rate != self.sample_rate:
                raise ValueError(f"VAD needs {self.sample_rate} Hz audio, got {frame.sample_rate}")
            self._walls.append((frame.end, frame.wall))
            for event in self.segmenter.feed(frame.pcm, frame.vad_pcm):
                await self._emit(event)
            return
        if isinstance(frame, EndFrame):
            for event in self.segmenter.flush():
                await self._emit(event)
        await self.push_frame(frame)

    async def _emit(self, event: VadEvent) -> None:
        if isinstance(event, SpeechStarted):
            self.bus.publish("speech_started", 0, start=event.start)
            if self.barge_in and self._open_turns:
                await self._interrupt(event)
            return
        if isinstance(event, SpeechPaused):
            await self.push_frame(
                SpeechPauseFrame(audio=event.audio, start=event.start, end=event.end)
            )
            return
        turn = self.open_turn()
        wall = self.wall_at(event.end)
        self.bus.publish(
            "utterance",
            turn,
            start=event.start,
            end=event.end,
            speech_end_wall=wall,
            forced=event.forced,
        )
        await self.push_frame(
            UtteranceFrame(
                turn_id=turn,
                audio=event.audio,
                sample_rate=self.sample_rate,
                start=event.start,
                end=event.end,
                speech_end_wall=wall,
            )
        )

    async def _interrupt(self, event: SpeechStarted) -> None:
        turn = max(self._open_turns)
        self._open_turns.clear()
        self.bus.publish(
            "barge_in",
            turn,
            onset_wall=self.wall_at(event.start),
            detected_wall=self.wall_at(event.detected_at),
        )
        await self.push_frame(InterruptFrame(turn_id=turn))

    def wall_at(self, pts: float) -> float:
        """The monotonic time at which stream time ``pts`` was captured."""
        for end, wall in self._walls:
            if end >= pts:
                return wall - (end - pts)
        end, wall = self._walls[-1]
        return wall - (end - pts)
