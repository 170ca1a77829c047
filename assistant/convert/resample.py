"""Streaming sample-rate conversion with soxr (a maintained, high-quality resampler)."""

from __future__ import annotations

import numpy as np
import soxr

from assistant.types import Pcm16


class StreamResampler:
    """Resamples a mono int16 stream chunk by chunk without clicks at the chunk edges."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16")
        )

    def process(self, chunk: Pcm16, last: bool = False) -> Pcm16:
        """Resample one chunk; ``last`` flushes what the filter still holds."""
        if self._stream is None:
            return chunk
        out = self._stream.resample_chunk(chunk, last=last)
        return np.asarray(out, dtype=np.int16).reshape(-1)
