"""Test harness: run one stage (or a few) between a feeder and a recorder and see what comes out."""

from __future__ import annotations

from assistant.pipeline.events import Event, EventBus
from assistant.pipeline.frames import DataFrame, EndFrame, Frame
from assistant.pipeline.pipeline import Pipeline
from assistant.pipeline.processor import FrameProcessor


class Recorder(FrameProcessor):
    """Keeps every frame that reaches it, in order of arrival."""

    def __init__(self) -> None:
        super().__init__("recorder")
        self.frames: list[Frame] = []

    async def queue_frame(self, frame: Frame) -> None:
        """Record the frame, then handle it as any stage would."""
        self.frames.append(frame)
        await super().queue_frame(frame)

    async def process_frame(self, frame: DataFrame) -> None:
        """Pass the frame on (to the pipeline's end)."""
        await self.push_frame(frame)


async def run_stage(
    stages: FrameProcessor | list[FrameProcessor], frames: list[Frame]
) -> tuple[list[Frame], list[Event]]:
    """Push ``frames`` (an EndFrame is appended) through the stages; return output and events."""
    chain = stages if isinstance(stages, list) else [stages]
    recorder = Recorder()
    bus = EventBus()
    events: list[Event] = []
    bus.listen(events.append)
    await Pipeline([*chain, recorder], bus).run(frames)
    return [f for f in recorder.frames if not isinstance(f, EndFrame)], events
