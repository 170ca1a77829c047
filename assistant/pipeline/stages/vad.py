"""VAD stage: audio frames in, one UtteranceFrame per stretch of speech out; each starts a turn."""

from __future__ import annotations

import itertools
from collections import deque

from assistant.audio.vad import SpeechPaused, SpeechStarted, VadConfig, VadEvent, VadSegmenter
from assistant.pipeline.frames import (
    AudioFrame,
    DataFrame,
    EndFrame,
    SpeechPauseFrame,
    UtteranceFrame,
)
from assistant.pipeline.processor import FrameProcessor

_WALL_HISTORY = 1000  # audio frames remembered to map stream time to wall-clock time


class VadStage(FrameProcessor):
    """Segments the input with webrtcvad; publishes ``speech_started`` and ``utterance``."""

    def __init__(self, config: VadConfig) -> None:
        super().__init__("vad")
        self.segmenter = VadSegmenter(config)
        self.sample_rate = config.sample_rate
        self._turn_ids = itertools.count(1)
        self._walls: deque[tuple[float, float]] = deque(maxlen=_WALL_HISTORY)  # (end pts, wall)

    async def process_frame(self, frame: DataFrame) -> None:
        """Feed audio to the segmenter; flush it at the end of the input."""
        if isinstance(frame, AudioFrame):
            if frame.sample_rate != self.sample_rate:
                raise ValueError(f"VAD needs {self.sample_rate} Hz audio, got {frame.sample_rate}")
            self._walls.append((frame.end, frame.wall))
            for event in self.segmenter.feed(frame.pcm):
                await self._emit(event)
            return
        if isinstance(frame, EndFrame):
            for event in self.segmenter.flush():
                await self._emit(event)
        await self.push_frame(frame)

    async def _emit(self, event: VadEvent) -> None:
        if isinstance(event, SpeechStarted):
            self.bus.publish("speech_started", 0, start=event.start)
            return
        if isinstance(event, SpeechPaused):
            await self.push_frame(
                SpeechPauseFrame(audio=event.audio, start=event.start, end=event.end)
            )
            return
        turn = next(self._turn_ids)
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

    def wall_at(self, pts: float) -> float:
        """The monotonic time at which stream time ``pts`` was captured."""
        for end, wall in self._walls:
            if end >= pts:
                return wall - (end - pts)
        end, wall = self._walls[-1]
        return wall - (end - pts)
