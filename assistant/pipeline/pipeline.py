"""A pipeline: stages linked in a chain, a source that feeds it, and an end that it waits for."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

from assistant.pipeline.events import EventBus, StageFailed
from assistant.pipeline.frames import CancelFrame, EndFrame, Frame
from assistant.pipeline.processor import ErrorHandler, FrameProcessor


class FrameSource(FrameProcessor):
    """The first stage: produces frames itself (``frames``) and then an EndFrame."""

    _producer: asyncio.Task[None] | None = None

    async def frames(self) -> AsyncIterator[Frame]:
        """Yield the frames to send downstream (override)."""
        return
        yield  # pragma: no cover - makes this an async generator

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving and producing."""
        await super().start(bus, on_error)
        self._producer = asyncio.create_task(self._produce(), name=f"{self.name}.produce")

    async def _produce(self) -> None:
        try:
            async for frame in self.frames():
                await self.push_frame(frame)
        except Exception as exc:
            self.bus.publish(StageFailed(stage=self.name, message=str(exc)))
            if self._on_error is not None:
                self._on_error(self, exc)
            return
        await self.push_frame(EndFrame())

    async def stop(self) -> None:
        """Stop producing and serving."""
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
        await super().stop()


class _End(FrameProcessor):
    """Terminal stage: resolves the pipeline when the end of the input arrives."""

    def __init__(self, done: asyncio.Future[None]) -> None:
        super().__init__("end")
        self._done = done

    async def queue_frame(self, frame: Frame) -> None:
        if isinstance(frame, EndFrame | CancelFrame) and not self._done.done():
            self._done.set_result(None)


class Pipeline:
    """Runs ``stages`` in a chain until an EndFrame or CancelFrame leaves the last stage."""

    def __init__(self, stages: list[FrameProcessor], bus: EventBus | None = None) -> None:
        if not stages:
            raise ValueError("a pipeline needs at least one stage")
        self.stages = stages
        self.bus = bus or EventBus()
        for a, b in itertools.pairwise(stages):
            a.link(b)
        self._done: asyncio.Future[None] | None = None
        self._error: BaseException | None = None

    async def start(self) -> None:
        """Start every stage, the last first, so nothing is pushed into a stage not started."""
        self._done = asyncio.get_running_loop().create_future()
        self.stages[-1].link(_End(self._done))
        for stage in reversed(self.stages):
            await stage.start(self.bus, self._stage_failed)

    async def queue_frame(self, frame: Frame) -> None:
        """Inject a frame at the head of the pipeline."""
        await self.stages[0].queue_frame(frame)

    async def cancel(self, reason: str = "") -> None:
        """Stop now: the cancel frame overtakes all queued data."""
        await self.queue_frame(CancelFrame(reason=reason))

    async def wait(self) -> None:
        """Wait for the end, stop every stage, and re-raise the first error of a stage."""
        assert self._done is not None, "start() the pipeline first"
        try:
            await self._done
        finally:
            for stage in self.stages:
                await stage.stop()
        if self._error is not None:
            raise self._error

    async def run(self, frames: list[Frame] | None = None) -> None:
        """Start, inject ``frames`` (if any, followed by an EndFrame) and wait for the end."""
        await self.start()
        if frames is not None:
            for frame in [*frames, EndFrame()]:
                await self.queue_frame(frame)
        await self.wait()

    def _stage_failed(self, stage: FrameProcessor, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
