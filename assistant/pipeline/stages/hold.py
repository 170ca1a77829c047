"""Hold stage: keeps the reply of a tentative turn back until the turn is confirmed.

It sits before the sink. Frames of a turn the board calls tentative wait here; a ConfirmFrame
lets them through in order, a RetractFrame throws them away. So a reply made speculatively,
while the user might still go on, is never heard unless the turn really was over.
"""

from __future__ import annotations

from assistant.pipeline.frames import ConfirmFrame, DataFrame, Frame
from assistant.pipeline.processor import FrameProcessor
from assistant.pipeline.turn_taking import TurnBoard


class HoldStage(FrameProcessor):
    """Holds the data frames of tentative turns."""

    def __init__(self, board: TurnBoard) -> None:
        super().__init__("hold")
        self.board = board
        self._held: dict[int, list[DataFrame]] = {}

    async def queue_frame(self, frame: Frame) -> None:
        """A confirmation releases the held frames (before it goes on downstream)."""
        if isinstance(frame, ConfirmFrame):
            for held in self._held.pop(frame.turn_id, []):
                await self.push_frame(held)
        await super().queue_frame(frame)

    async def process_frame(self, frame: DataFrame) -> None:
        """Hold a tentative turn's frames (and any that follow ones still held)."""
        turn = frame.turn_id
        if turn and (self.board.is_tentative(turn) or turn in self._held):
            self._held.setdefault(turn, []).append(frame)
            return
        await self.push_frame(frame)

    async def on_retract(self, turn_id: int) -> None:
        """The turn is withdrawn: its frames are never played."""
        self._held.pop(turn_id, None)

    async def on_interrupt(self, turn_id: int) -> None:
        """Held frames of cancelled turns go too."""
        for turn in [t for t in self._held if t <= turn_id]:
            del self._held[turn]
