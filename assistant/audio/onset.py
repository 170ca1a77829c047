"""Where speech starts: once most frames of a short window are voiced, at the first of them."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from assistant.types import Pcm16

ONSET_WINDOW_MS = 100  # speech starts when most frames of this window are voiced
ONSET_SHARE = 0.6


@dataclass(frozen=True)
class Onset:
    """Speech has started: the frames that lead to it, where it began, how much was voiced."""

    frames: list[Pcm16]  # the pre-roll, then the onset window
    first_voiced: int  # index of the first voiced frame of the window in the stream
    voiced: int  # voiced frames in the window


class OnsetWindow:
    """Watches the frames heard while idle for the start of speech, keeping the pre-roll.

    The onset window is speech already: the ``preroll_ms`` before it come on top of it.
    """

    def __init__(self, frame_ms: int, preroll_ms: int) -> None:
        size = max(1, round(ONSET_WINDOW_MS / frame_ms))  # frames
        self._voiced: deque[bool] = deque(maxlen=size)
        self._need = math.ceil(ONSET_SHARE * size)
        self._frames: deque[Pcm16] = deque(maxlen=size + preroll_ms // frame_ms)

    def hear(self, frame: Pcm16, voiced: bool, index: int) -> Onset | None:
        """Frame ``index`` of the stream; the onset once speech starts, else None.

        After an onset the window starts afresh, for the next time the segmenter is idle.
        """
        self._frames.append(frame)
        self._voiced.append(voiced)
        count = sum(self._voiced)
        if count < self._need:
            return None
        first_voiced = index - len(self._voiced) + 1 + self._voiced.index(True)
        onset = Onset(list(self._frames), first_voiced, count)
        self._frames.clear()
        self._voiced.clear()
        return onset
