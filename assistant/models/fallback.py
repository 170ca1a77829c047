"""``<role>.fallback = "local"``: a remote speech model that hands its calls to the local one.

A call goes to the remote server first. When it fails (``RemoteFailed``: down, too slow, an
error, garbage) the failure is one log line and the same call is made on the local model
(``<role>.model``), loaded on the first failure, once, under a lock. For ``COOL_DOWN_S``
after a failure the remote is not asked at all, so a server that is down does not cost every
turn its timeout; the first call after that tries it again.

Speech that fails after some of its audio has been yielded is not spoken again locally: the
listener has heard its start, and saying it again would double it. That clause fails (the
turn's error, as without a fallback); the next calls go to the local voice (the cool-down
has begun). The local voice's audio is
resampled to the remote's rate, which the caller already set up for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import numpy as np

from assistant.convert.resample import StreamResampler
from assistant.models.interfaces import Float32, Pcm16, SpeechToText, TextToSpeech, Transcript
from assistant.models.remote_role import (
    BackendStatus,
    Remote,
    RemoteFailed,
    RemoteSpeechToText,
    RemoteTextToSpeech,
)

COOL_DOWN_S = 30.0  # after a failure the remote rests this long: the local model answers
log = logging.getLogger(__name__)
M = TypeVar("M")


class _Fallback(Generic[M]):
    """The remote, the local model loaded on demand, and when to ask the remote again."""

    def __init__(self, remote: Remote, load_local: Callable[[], M], cool_down_s: float) -> None:
        self.remote = remote
        self.backend, self.url = remote.backend, remote.url
        self.cool_down_s = cool_down_s
        self.fallbacks = 0  # calls the local model answered
        self._load_local = load_local
        self._local: M | None = None
        self._lock = threading.Lock()
        self._resting_until = 0.0  # monotonic seconds: the remote is not asked before

    @property
    def calls(self) -> int:
        """Requests sent to the remote server."""
        return self.remote.calls

    def status(self, timeout_s: float = 2.0) -> BackendStatus:
        """The remote server's status (the local model is only the fallback)."""
        return self.remote.status(timeout_s)

    def close(self) -> None:
        """Close the remote's connections."""
        self.remote.close()

    def _ask_remote(self) -> bool:
        return time.monotonic() >= self._resting_until

    def _rest(self) -> None:
        """Leave the remote alone for the cool-down: the local model takes the next calls."""
        self._resting_until = time.monotonic() + self.cool_down_s

    def _failed(self, exc: RemoteFailed) -> None:
        self._rest()
        log.warning(
            "%s; the local model answers instead (the remote rests %g s)",
            exc.what,
            self.cool_down_s,
        )

    def _local_model(self) -> M:
        with self._lock:
            if self._local is None:
                self._local = self._load_local()
            self.fallbacks += 1
            return self._local


class FallbackSTT(_Fallback[SpeechToText]):
    """Recognition on the remote server, else on the local model; implements SpeechToText."""

    continues = False  # as the remote: each pass is decoded whole, wherever it runs

    def __init__(
        self,
        remote: RemoteSpeechToText,
        load_local: Callable[[], SpeechToText],
        cool_down_s: float = COOL_DOWN_S,
    ) -> None:
        super().__init__(remote, load_local, cool_down_s)
        self.stt = remote
        self.sample_rate = self.stt.sample_rate

    def transcribe(self, audio: Float32) -> Transcript:
        """The remote's transcript; the local model's when the remote fails or rests."""
        if self._ask_remote():
            try:
                return self.stt.transcribe(audio)
            except RemoteFailed as exc:
                self._failed(exc)
        return self._local_model().transcribe(audio)

    def transcribe_after(self, audio: Float32, prefix: str) -> Transcript | None:
        """Not offered (as by the remote): None, so the caller decodes the utterance whole."""
        return None


class FallbackTTS(_Fallback[TextToSpeech]):
    """Speech from the remote server, else from the local voice; implements TextToSpeech."""

    def __init__(
        self,
        remote: RemoteTextToSpeech,
        load_local: Callable[[], TextToSpeech],
        cool_down_s: float = COOL_DOWN_S,
    ) -> None:
        super().__init__(remote, load_local, cool_down_s)
        self.tts = remote
        self.sample_rate, self.language = self.tts.sample_rate, self.tts.language

    def synthesize(self, text: str) -> Iterator[Pcm16]:
        """The remote's speech; the local voice's when the remote fails before any audio."""
        if self._ask_remote():
            spoke = False
            try:
                for pcm in self.tts.synthesize(text):
                    spoke = True
                    yield pcm
                return
            except RemoteFailed as exc:
                if spoke:  # heard in part: not said twice, so this clause fails its turn
                    self._rest()
                    raise
                self._failed(exc)
        yield from self._local_speech(text)

    def _local_speech(self, text: str) -> Iterator[Pcm16]:
        voice = self._local_model()
        resampler = StreamResampler(voice.sample_rate, self.sample_rate)
        for pcm in voice.synthesize(text):
            out = resampler.process(pcm)
            if out.size:
                yield out
        tail = resampler.process(np.zeros(0, np.int16), last=True)
        if tail.size:
            yield tail
