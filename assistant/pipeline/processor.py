"""The stage base class: a data lane served by one worker, and a control lane that overtakes it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from assistant.pipeline.events import EventBus, StageFailed
from assistant.pipeline.frames import ControlFrame, DataFrame, Frame, InterruptFrame, RetractFrame

ErrorHandler = Callable[["FrameProcessor", BaseException], None]


class FrameProcessor:
    """A pipeline stage. Subclasses override ``process_frame`` and may override ``on_interrupt``.

    Data frames are processed one at a time, in order, by a worker task. A control frame is
    handled the moment it arrives: an InterruptFrame (every turn up to its own) or a
    RetractFrame (its turn alone) drops queued data of the cancelled turns, restarts the worker
    if it was busy with one of them, and is forwarded downstream at once. Frames of cancelled
    turns are dropped on the way in and on the way out.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name or type(self).__name__
        self.bus = EventBus()
        self._next: FrameProcessor | None = None
        self._queue: asyncio.Queue[DataFrame] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._current: DataFrame | None = None
        self._cancelled_upto = 0
        self._withdrawn: set[int] = set()  # retracted turns above ``_cancelled_upto``
        self._on_error: ErrorHandler | None = None

    # --- wiring --------------------------------------------------------------------------

    def link(self, nxt: FrameProcessor) -> FrameProcessor:
        """Send this stage's output to ``nxt``; returns ``nxt`` for chaining."""
        self._next = nxt
        return nxt

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Begin serving the data lane."""
        self.bus, self._on_error = bus, on_error
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._serve(), name=self.name)

    async def stop(self) -> None:
        """Stop the worker; queued data is discarded."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        await self.cleanup()

    async def cleanup(self) -> None:
        """Release resources held by the stage (override)."""

    # --- frames in and out ---------------------------------------------------------------

    async def queue_frame(self, frame: Frame) -> None:
        """Hand a frame to this stage."""
        if isinstance(frame, ControlFrame):
            await self._control(frame)
        elif isinstance(frame, DataFrame) and not self.is_stale(frame):
            assert self._queue is not None, f"{self.name} is not started"
            self._queue.put_nowait(frame)

    async def push_frame(self, frame: Frame) -> None:
        """Send a frame downstream (frames of cancelled turns are dropped)."""
        if isinstance(frame, DataFrame) and self.is_stale(frame):
            return
        if self._next is not None:
            await self._next.queue_frame(frame)

    def is_stale(self, frame: Frame) -> bool:
        """Whether the frame belongs to a cancelled turn."""
        return 0 < frame.turn_id <= self._cancelled_upto or frame.turn_id in self._withdrawn

    def busy(self) -> bool:
        """Whether a data frame is being processed or waits for its turn."""
        return self._current is not None or (self._queue is not None and not self._queue.empty())

    def is_withdrawn(self, turn_id: int) -> bool:
        """Whether ``turn_id`` was retracted (and not cancelled by an interrupt since)."""
        return turn_id in self._withdrawn

    async def process_frame(self, frame: DataFrame) -> None:
        """Handle one data frame (override); the default forwards it."""
        await self.push_frame(frame)

    async def on_interrupt(self, turn_id: int) -> None:
        """Stop work on turns up to ``turn_id`` (override, e.g. to stop a model thread)."""

    async def on_retract(self, turn_id: int) -> None:
        """Forget the withdrawn turn ``turn_id``, and only it (override)."""

    # --- internals -----------------------------------------------------------------------

    async def _control(self, frame: ControlFrame) -> None:
        if isinstance(frame, InterruptFrame):
            self._cancelled_upto = max(self._cancelled_upto, frame.turn_id)
            self._withdrawn = {t for t in self._withdrawn if t > self._cancelled_upto}
            await self._cancel_work(self.on_interrupt, frame.turn_id)
        elif isinstance(frame, RetractFrame):
            self._withdrawn.add(frame.turn_id)
            await self._cancel_work(self.on_retract, frame.turn_id)
        await self.push_frame(frame)

    async def _cancel_work(self, hook: Callable[[int], Awaitable[None]], turn_id: int) -> None:
        """Drop queued frames of the cancelled turns, tell the stage, restart a busy worker."""
        self._drop_stale()
        await hook(turn_id)
        if self._current is not None and self.is_stale(self._current):
            await self._restart_worker()

    def _drop_stale(self) -> None:
        assert self._queue is not None
        keep = [f for f in _drain(self._queue) if not self.is_stale(f)]
        for f in keep:
            self._queue.put_nowait(f)

    async def _restart_worker(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._current = None
        self._worker = asyncio.create_task(self._serve(), name=self.name)

    async def _serve(self) -> None:
        assert self._queue is not None
        while True:
            frame = await self._queue.get()
            if self.is_stale(frame):
                continue
            self._current = frame
            try:
                await self.process_frame(frame)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.bus.publish(
                    StageFailed(turn_id=frame.turn_id, stage=self.name, message=str(exc))
                )
                if self._on_error is not None:
                    self._on_error(self, exc)
                return
            finally:
                self._current = None


def _drain(queue: asyncio.Queue[DataFrame]) -> list[DataFrame]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
