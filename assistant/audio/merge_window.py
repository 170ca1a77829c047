"""Taking an utterance back: the last one is kept a while, in case the speaker goes on.

When the end-of-turn model ended a turn too early and the speaker continues within
``merge_ms``, the segmenter joins the new speech to that utterance, the pause between kept.
"""

from __future__ import annotations

from assistant.types import Pcm16


class MergeWindow:
    """The last utterance, kept for ``merge_ms`` in case the speaker goes on after all."""

    def __init__(self, frame_ms: int, merge_ms: int) -> None:
        self.frame_ms, self.merge_ms = frame_ms, merge_ms
        self._last: tuple[list[Pcm16], int, int] | None = None  # frames, start, voiced
        self._after: list[Pcm16] = []  # frames heard since it ended

    def keep(self, frames: list[Pcm16], start: int, voiced: int) -> None:
        """An utterance just ended (its frames, first frame index and voiced frames)."""
        if self.merge_ms:
            self._last, self._after = (frames, start, voiced), []

    def hear(self, frame: Pcm16) -> None:
        """A frame while idle: it joins the gap, until the gap is longer than ``merge_ms``."""
        if self._last is not None:
            self._after.append(frame)
            if len(self._after) * self.frame_ms > self.merge_ms:
                self.forget()

    def take(self) -> tuple[list[Pcm16], int, int] | None:
        """The last utterance's frames followed by the gap, its start and voiced frames."""
        if self._last is None:
            return None
        frames, start, voiced = self._last
        frames = frames + self._after
        self.forget()
        return frames, start, voiced

    def forget(self) -> None:
        """Nothing can be merged any more."""
        self._last, self._after = None, []
