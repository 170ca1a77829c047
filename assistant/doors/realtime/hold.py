"""Turns heard but not answered: the Realtime API's ``create_response: false``.

With turn detection on and ``create_response`` false, each turn is still heard, ended and
transcribed (its user item and transcription events go out as usual), but instead of being
answered its words join the history, waiting for the client's ``response.create``. The turn
itself ends as ``no_speech`` (reason given), so nothing in the pipeline waits for a reply.
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.pipeline.events import NoSpeech
from assistant.pipeline.frames import DataFrame, TranscriptFrame
from assistant.pipeline.processor import FrameProcessor


class HeldTurns(FrameProcessor):
    """Between recognition and reply: hands each transcript to ``keep`` instead of the LLM."""

    def __init__(self, keep: Callable[[str], None]) -> None:
        super().__init__("held-turns")
        self.keep = keep

    async def process_frame(self, frame: DataFrame) -> None:
        """Keep heard transcripts; pass everything else on (requested replies too)."""
        if not isinstance(frame, TranscriptFrame) or frame.request is not None:
            await self.push_frame(frame)
            return
        if frame.text.strip():
            self.keep(frame.text)
        self.bus.publish(NoSpeech(turn_id=frame.turn_id, reason="create_response is false"))
