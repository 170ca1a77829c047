"""Whole frames out of a stream of any chunk size, the remainder kept for the next chunk.

The noise gate, the echo canceller and the front end all work 10 ms at a time.
"""

from __future__ import annotations

import numpy as np

from assistant.types import Pcm16

FRAME_MS = 10  # the unit of WebRTC's audio processing and of the noise gate


class Framer:
    """Cuts a stream into runs of whole ``frame``-sample frames."""

    def __init__(self, frame: int) -> None:
        self.frame = frame
        self._rest = np.zeros(0, np.int16)

    @property
    def held(self) -> int:
        """Samples waiting for the next chunk to complete a frame."""
        return len(self._rest)

    def push(self, pcm: Pcm16) -> Pcm16:
        """The whole frames that ``pcm`` completes (possibly none), back to back."""
        data = np.concatenate([self._rest, pcm]) if self._rest.size else pcm
        usable = len(data) - len(data) % self.frame
        self._rest = data[usable:].copy()
        return data[:usable]


class PairedFramer:
    """Cuts two aligned streams (audio, and what speech is decided on) into whole frames."""

    def __init__(self, frame: int) -> None:
        self._frame = frame
        self._pending = np.zeros(0, np.int16)
        self._pending_vad = np.zeros(0, np.int16)

    def split(self, pcm: Pcm16, vad_pcm: Pcm16) -> list[tuple[Pcm16, Pcm16]]:
        """The whole frames completed by these samples; the rest waits for the next call."""
        data = np.concatenate([self._pending, pcm]) if self._pending.size else pcm
        decide = np.concatenate([self._pending_vad, vad_pcm]) if self._pending.size else vad_pcm
        usable = len(data) - len(data) % self._frame
        self._pending = data[usable:].copy()
        self._pending_vad = decide[usable:].copy()
        step = self._frame
        return [(data[i : i + step], decide[i : i + step]) for i in range(0, usable, step)]
