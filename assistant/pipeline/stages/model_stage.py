"""The base of the stages that run a model on a thread of their own, one turn's work at a time.

The LLM and TTS stages both call a blocking model on a one-thread executor, for one turn at a
time, and must stop that work within a token or a sentence when the turn is cancelled
(barge-in: that turn and every earlier one) or withdrawn (that turn alone). That bookkeeping
lives here once.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from assistant.concurrency import model_executor, run_to_the_end
from assistant.pipeline.processor import FrameProcessor


class TurnWork:
    """The turn a stage's model thread is working on, and the flag that stops that work."""

    def __init__(self) -> None:
        self.turn = 0
        self.cancel = threading.Event()

    def begin(self, turn: int) -> threading.Event:
        """Work on ``turn`` goes on, or starts with a fresh flag; returns the flag."""
        if turn != self.turn:
            self.turn, self.cancel = turn, threading.Event()
        return self.cancel

    def stop(self, turn_id: int, only: bool = False) -> None:
        """Stop the work if it is for ``turn_id`` or, unless ``only``, for an earlier turn."""
        if self.turn == turn_id or (not only and self.turn < turn_id):
            self.cancel.set()


class ModelStage(FrameProcessor):
    """A stage whose model runs on its own thread; cancelled turns stop their work there."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._executor = model_executor(name)
        self._work = TurnWork()

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The model's thread: every call on the model runs there, one at a time."""
        return self._executor

    async def on_interrupt(self, turn_id: int) -> None:
        """Stop the work of a cancelled turn (and of every earlier one)."""
        self._work.stop(turn_id)

    async def on_retract(self, turn_id: int) -> None:
        """Stop the work of the withdrawn turn alone."""
        self._work.stop(turn_id, only=True)

    async def cleanup(self) -> None:
        """Stop the work and wait for the model's thread to be done with the model.

        Whoever owns the model may free it once the pipeline has stopped, and freeing it
        under a call still running on this thread would crash the process.
        """
        self._work.cancel.set()
        self._executor.shutdown(wait=False, cancel_futures=True)  # nothing queued starts now
        self.interrupt_model()
        await run_to_the_end(self._executor.shutdown, wait=True)

    def interrupt_model(self) -> None:
        """Stop the model's call running now, where the model can (here: it cannot)."""
