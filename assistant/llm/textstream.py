"""Streamed token bytes to text: whole UTF-8 characters only, and stop strings honoured."""

from __future__ import annotations

import codecs


class TextAssembler:
    """Bytes in, text out.

    A multi-byte character split across tokens is held until complete; text that might be the
    start of a stop string is held until it is known not to be one.
    """

    def __init__(self, stop: list[str] | None = None) -> None:
        self.stop = [s for s in (stop or []) if s]
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self.stopped = False  # a stop string was reached

    def push(self, data: bytes) -> str:
        """Add the bytes of one token; return the text that is safe to hand out now."""
        self._pending += self._decoder.decode(data)
        return self._release()

    def finish(self) -> str:
        """The text still held at the end of generation."""
        if self.stopped:
            return ""
        self._pending += self._decoder.decode(b"", final=True)
        out, self._pending = self._pending, ""
        return out

    def _release(self) -> str:
        for stop in self.stop:
            at = self._pending.find(stop)
            if at >= 0:
                out, self._pending, self.stopped = self._pending[:at], "", True
                return out
        hold = max((_overlap(self._pending, s) for s in self.stop), default=0)
        cut = len(self._pending) - hold
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of ``text`` that is a beginning of ``stop``."""
    for n in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:n]):
            return n
    return 0
