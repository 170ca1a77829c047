"""The room's noise floor: how loud it is where nobody speaks.

Within speech, webrtcvad keeps calling a word's fading tail voiced; the segmenter counts a frame
as speech only when it is also some way over this floor (see vad.py).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from assistant.audio.gate import level_dbfs
from assistant.types import Pcm16

FLOOR_S = 2.0  # the noise floor is the median level of this much audio outside speech...
FLOOR_MIN_S = 0.5  # ...once there is at least this much of it


class NoiseFloor:
    """The room's level outside speech: the median of the last ``FLOOR_S`` seconds heard."""

    def __init__(self, frame_ms: int) -> None:
        self._levels: deque[float] = deque(maxlen=round(FLOOR_S * 1000 / frame_ms))
        self._need = round(FLOOR_MIN_S * 1000 / frame_ms)

    def hear(self, frame: Pcm16) -> None:
        """A frame outside speech."""
        self._levels.append(level_dbfs(frame))

    def is_over(self, frame: Pcm16, margin_db: float) -> bool:
        """Whether ``frame`` is ``margin_db`` over the floor (True until the floor is known)."""
        if len(self._levels) < self._need:
            return True
        return level_dbfs(frame) > float(np.median(self._levels)) + margin_db
