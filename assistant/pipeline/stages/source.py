"""Audio sources: decoded files, fed at real-time pace like a microphone or as fast as possible."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from assistant.pipeline.frames import AudioFrame, Frame
from assistant.pipeline.pipeline import FrameSource
from assistant.types import Pcm16


class PcmSource(FrameSource):
    """Feeds mono int16 PCM in chunks of ``chunk_ms``.

    With ``realtime`` each chunk is released when a microphone would have delivered its last
    sample, so latencies measured downstream are those a live user would see.
    """

    def __init__(
        self, pcm: Pcm16, sample_rate: int, realtime: bool = True, chunk_ms: int = 20
    ) -> None:
        super().__init__("source")
        self.pcm = pcm
        self.sample_rate = sample_rate
        self.realtime = realtime
        self.chunk = sample_rate * chunk_ms // 1000

    async def frames(self) -> AsyncIterator[Frame]:
        """Yield the audio chunk by chunk."""
        t0 = time.monotonic()
        for start in range(0, len(self.pcm), self.chunk):
            pcm = self.pcm[start : start + self.chunk]
            pts = start / self.sample_rate
            available = t0 + pts + len(pcm) / self.sample_rate
            if self.realtime:
                await asyncio.sleep(max(0.0, available - time.monotonic()))
            else:
                available = time.monotonic()
                await asyncio.sleep(0)  # let the other stages run between chunks
            yield AudioFrame(pcm=pcm, sample_rate=self.sample_rate, pts=pts, wall=available)
