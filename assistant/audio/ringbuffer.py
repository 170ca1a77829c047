"""A fixed-size sample ring shared by one real-time producer and one consumer, without locks.

The producer (a PortAudio callback) only copies into preallocated memory and advances a
counter; it never waits. When the consumer falls behind by more than the capacity, the oldest
samples are overwritten and the consumer counts the loss when it next reads. Counters only
grow, so a read can tell after copying whether the producer overwrote what it was copying.
"""

from __future__ import annotations

import numpy as np

from assistant.types import Pcm16


class RingBuffer:
    """Mono int16 ring buffer: ``write`` from one thread, ``read`` from another."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._data = np.zeros(capacity, np.int16)
        self._written = 0  # samples ever written (only the producer changes it)
        self._read = 0  # samples ever consumed or skipped (only the consumer changes it)
        self.overflows = 0  # reads that found samples overwritten
        self.lost_samples = 0

    def write(self, samples: Pcm16) -> None:
        """Append samples, overwriting the oldest ones when full (producer side; never blocks)."""
        n = len(samples)
        if n > self.capacity:
            samples = samples[-self.capacity :]
            self._written += n - self.capacity
            n = self.capacity
        at = self._written % self.capacity
        first = min(n, self.capacity - at)
        self._data[at : at + first] = samples[:first]
        self._data[: n - first] = samples[first:]
        self._written += n  # published last: the samples are in place before they count

    @property
    def available(self) -> int:
        """Samples waiting to be read (at most the capacity)."""
        return min(self._written - self._read, self.capacity)

    def read(self, limit: int | None = None) -> Pcm16:
        """Take up to ``limit`` of the oldest unread samples (consumer side)."""
        end = self._written
        start = self._skip_overwritten(end)
        if limit is not None:
            end = min(end, start + limit)
        out = self._copy(start, end)
        # The producer may have lapped us while we copied: keep only what is still intact.
        intact_from = self._written - self.capacity
        if intact_from > start:
            self._count_loss(min(intact_from, end) - start)
            out = out[min(intact_from, end) - start :]
        self._read = end
        return out

    @property
    def written(self) -> int:
        """Samples ever written: the stream position just after the newest sample."""
        return self._written

    def peek(self, end: int, n: int) -> Pcm16:
        """Samples ``end - n`` to ``end`` of the stream, without consuming them.

        Positions not written yet, or already overwritten, read as silence.
        """
        out = np.zeros(n, np.int16)
        written = self._written
        lo, hi = max(end - n, written - self.capacity, 0), min(end, written)
        if hi > lo:
            out[lo - (end - n) : hi - (end - n)] = self._copy(lo, hi)
            if self._written - self.capacity > lo:  # lapped while copying: drop the stale part
                stale = min(self._written - self.capacity, hi) - lo
                out[lo - (end - n) : lo - (end - n) + stale] = 0
        return out

    def clear(self) -> None:
        """Drop every unread sample (consumer side)."""
        self._read = self._written

    def _skip_overwritten(self, end: int) -> int:
        start = self._read
        if end - start > self.capacity:
            self._count_loss(end - start - self.capacity)
            start = end - self.capacity
        return start

    def _count_loss(self, samples: int) -> None:
        self.overflows += 1
        self.lost_samples += samples

    def _copy(self, start: int, end: int) -> Pcm16:
        n = end - start
        at = start % self.capacity
        first = min(n, self.capacity - at)
        return np.concatenate([self._data[at : at + first], self._data[: n - first]])
