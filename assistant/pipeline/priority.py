"""Speech first: while a clause is being synthesized, the chat model waits between tokens.

On a small CPU the model and the voice compete for the same cores, and the user hears nothing
until the first clause is synthesized. The model is far ahead of playback anyway (tens of tokens
per second against a few words per second of speech), so pausing it costs nothing audible and
gets the first sound out sooner.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_POLL_S = 0.05  # how often a waiting generator checks for cancellation


class SpeechFirst:
    """A gate shared by the TTS stage (which closes it) and the LLM stage (which waits on it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._speaking = 0
        self._idle = threading.Event()
        self._idle.set()

    @contextlib.contextmanager
    def speaking(self) -> Iterator[None]:
        """Hold the gate closed while synthesizing."""
        with self._lock:
            self._speaking += 1
            self._idle.clear()
        try:
            yield
        finally:
            with self._lock:
                self._speaking -= 1
                if self._speaking == 0:
                    self._idle.set()

    def yield_to_speech(
        self, stream: Generator[T, None, R], cancel: threading.Event
    ) -> Generator[T, None, R]:
        """Pass ``stream`` through, pausing before each item while speech is being synthesized."""
        while True:
            while not self._idle.wait(_POLL_S) and not cancel.is_set():
                pass
            try:
                item = next(stream)
            except StopIteration as stop:
                result: R = stop.value
                return result
            yield item
