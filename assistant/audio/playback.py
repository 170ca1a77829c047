"""Speaker playback: a PortAudio callback fed from a queue of reply chunks.

Audio starts as soon as the first chunk is queued. Each chunk remembers how much of it the
callback has played, so after a barge-in the conversation knows exactly what the user heard.
``stop`` aborts the stream, which drops what is buffered downstream, so the speaker falls
silent within a few milliseconds instead of after the device latency. Everything the
callback outputs, silence included, is copied into a reference ring for echo cancellation,
and the loudness of what it wrote, and when, is kept for a couple of seconds: sound cannot echo
before it was written, whatever the device's timestamps say (they drift under load).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.audio.devices import Device, close_stream, open_stream
from assistant.audio.framing import FRAME_MS
from assistant.audio.gate import level_dbfs
from assistant.audio.ringbuffer import RingBuffer
from assistant.types import Pcm16

_STAMPS = 64  # callbacks remembered for aligning the echo reference (> 1 s of blocks)
_WRITTEN = 128  # callbacks whose loudness is remembered (> 2 s of blocks)


@dataclass(eq=False)
class Chunk:
    """Reply audio of one turn; ``played`` is advanced by the audio callback."""

    pcm: Pcm16
    turn_id: int
    played: int = 0

    @property
    def done(self) -> bool:
        """Whether every sample went out."""
        return self.played >= len(self.pcm)


@dataclass
class PlaybackStats:
    """Output underflows reported by PortAudio."""

    output_underflows: int = 0


class Player:
    """Plays mono int16 audio on one output device."""

    def __init__(
        self,
        device: Device,
        sample_rate: int,
        block_ms: int = 20,
        reference: RingBuffer | None = None,
    ) -> None:
        self.device = device
        self.sample_rate = sample_rate
        self.block = sample_rate * block_ms // 1000
        self.reference = reference
        self.stats = PlaybackStats()
        self.latency = 0.0  # seconds from the callback to the speaker, as PortAudio reports
        self.last_callback = 0.0  # monotonic
        self.sound_until = 0.0  # monotonic time the last non-silent sample leaves the speaker
        self.stopped_at = 0.0  # monotonic time of the last stop (a barge-in)
        self._queue: deque[Chunk] = deque()
        # (reference position, PortAudio time it is heard) of recent callbacks, for alignment
        self._stamp_pos = np.zeros(_STAMPS, np.int64)
        self._stamp_time = np.zeros(_STAMPS, np.float64)
        self._stamps = 0
        self._written: deque[tuple[float, float]] = deque(maxlen=_WRITTEN)  # (monotonic, dBFS)
        self._flushed_upto = 0  # turns whose queued audio the callback must drop
        self._stream: Any = None

    def open(self) -> None:
        """Start the output stream (it plays silence until audio is queued)."""
        self._stream = open_stream(
            "output", self.device, self.sample_rate, self.block, callback=self._callback
        )
        self.latency = float(self._stream.latency)
        self.last_callback = time.monotonic()

    def play(self, chunk: Chunk) -> None:
        """Queue audio behind what is already playing."""
        self._queue.append(chunk)

    def stop(self, turn_id: int) -> float:
        """Drop the audio of turns up to ``turn_id``; returns when the speaker fell silent."""
        self._flushed_upto = max(self._flushed_upto, turn_id)
        if self._stream is not None and time.monotonic() < self.sound_until:
            # Aborting discards what PortAudio and the sound server already buffered (tens of
            # milliseconds); the callback then restarts with the flag set and outputs silence.
            with contextlib.suppress(Exception):
                self._stream.abort()
                self._stream.start()
        silent_at = time.monotonic()
        self.sound_until = min(self.sound_until, silent_at)
        self.stopped_at = silent_at
        return silent_at

    def busy(self, turn_id: int) -> bool:
        """Whether audio of ``turn_id`` is still queued or playing."""
        if turn_id <= self._flushed_upto:
            return False
        pending = any(c.turn_id == turn_id and not c.done for c in list(self._queue))
        return pending or time.monotonic() < self.sound_until

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        # Real-time thread: copy queued samples out, never wait.
        if status.output_underflow:
            self.stats.output_underflows += 1
        out = outdata[:, 0]
        filled = 0
        queue = self._queue
        while filled < frames and queue:
            chunk = queue[0]
            if chunk.turn_id <= self._flushed_upto or chunk.done:
                queue.popleft()
                continue
            n = min(frames - filled, len(chunk.pcm) - chunk.played)
            out[filled : filled + n] = chunk.pcm[chunk.played : chunk.played + n]
            chunk.played += n
            filled += n
        out[filled:] = 0
        now = time.monotonic()
        self.last_callback = now
        if filled:
            self.sound_until = now + frames / self.sample_rate + self.latency
            self._written.append((now, self._loudest_frame(out[:filled])))
        if self.reference is not None:
            slot = self._stamps % _STAMPS
            self._stamp_pos[slot] = self.reference.written
            self._stamp_time[slot] = time_info.outputBufferDacTime
            self._stamps += 1
            self.reference.write(out)

    def _loudest_frame(self, pcm: Pcm16) -> float:
        step = self.sample_rate * FRAME_MS // 1000
        return max(level_dbfs(pcm[i : i + step]) for i in range(0, len(pcm), step))

    def loudest_written(self, since: float) -> float:
        """The loudest frame (dBFS) handed to the device at or after ``since`` (monotonic).

        -100 when none was: nothing written since then can be echoing now.
        """
        return max((level for at, level in list(self._written) if at >= since), default=-100.0)

    def reference_position(self, device_time: float) -> int | None:
        """Where in the reference stream the sound heard at ``device_time`` lies.

        ``device_time`` is on PortAudio's clock (shared by all streams of the process).
        None when nothing has been played yet.
        """
        count = self._stamps
        if count == 0:
            return None
        recent = [(count - k - 1) % _STAMPS for k in range(min(count, _STAMPS))]
        # the newest callback heard at or before device_time anchors the position
        for slot in recent:
            if self._stamp_time[slot] <= device_time:
                break
        elapsed = device_time - float(self._stamp_time[slot])
        return int(self._stamp_pos[slot]) + round(elapsed * self.sample_rate)

    def close(self) -> None:
        """Release the device (safe to call twice); queued audio waits for ``open``."""
        stream, self._stream = self._stream, None
        close_stream(stream)
