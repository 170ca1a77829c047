"""The wake phrase: turns are answered only when they start with it (or follow a reply).

After a reply, the conversation stays open for ``follow_up_s``: a follow-up question needs
no wake phrase. A turn that is ignored ends as ``no_speech``, so nothing waits for it.
"""

from __future__ import annotations

import re
import time

from assistant.errors import UserError
from assistant.pipeline.events import Event, EventBus, NoSpeech, TurnDone
from assistant.pipeline.frames import DataFrame, TranscriptFrame
from assistant.pipeline.processor import ErrorHandler, FrameProcessor


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def check_phrase(phrase: str) -> None:
    """UserError unless ``phrase`` has a word to listen for (letters or digits)."""
    if not _words(phrase):
        raise UserError(
            f"the wake phrase {phrase!r} has no words to listen for; give words, "
            "e.g. --wake-phrase 'hey assistant'"
        )


class WakeStage(FrameProcessor):
    """Passes on transcripts that contain the wake phrase (with the phrase cut off)."""

    def __init__(self, phrase: str, follow_up_s: float = 8.0) -> None:
        check_phrase(phrase)
        super().__init__("wake")
        self.phrase = _words(phrase)
        self.follow_up_s = follow_up_s
        self._open_until = 0.0  # monotonic time the follow-up window closes

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; a finished reply opens the follow-up window."""
        await super().start(bus, on_error)
        bus.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, TurnDone):
            self._open_until = time.monotonic() + self.follow_up_s

    def strip(self, text: str) -> str | None:
        """What follows the wake phrase in ``text``; None when the phrase is not there."""
        words, n = _words(text), len(self.phrase)
        for start in range(len(words) - n + 1):
            if words[start : start + n] == self.phrase:
                return " ".join(words[start + n :])
        return None

    async def process_frame(self, frame: DataFrame) -> None:
        """Forward woken transcripts; end the others as turns with nothing to answer.

        A reply asked for (a timer's announcement) needs no wake phrase.
        """
        if not isinstance(frame, TranscriptFrame) or frame.request is not None:
            await self.push_frame(frame)
            return
        rest = self.strip(frame.text)
        if rest is None and time.monotonic() < self._open_until:
            rest = frame.text  # a follow-up: the conversation is still open
        if rest:
            frame.text = rest
            await self.push_frame(frame)
            return
        if rest is not None:  # the phrase alone: listen for the question without it
            self._open_until = time.monotonic() + self.follow_up_s
        self.bus.publish(NoSpeech(turn_id=frame.turn_id, reason="no wake phrase"))
