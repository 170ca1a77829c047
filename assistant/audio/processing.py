"""Echo cancellation and noise suppression: WebRTC's audio processing module (via livekit).

The module (AEC3 echo canceller, noise suppressor, high-pass filter) works on 10 ms frames. For
each microphone frame it is first given the matching 10 ms of what the speaker played (the
reference), then the microphone frame, which it cleans in place. AEC3 estimates the echo path
delay itself (tested up to 500 ms), so the reference only has to arrive roughly in step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from assistant.audio.framing import FRAME_MS, Framer
from assistant.types import Pcm16


class AudioProcessor:
    """Cleans microphone audio: echo of the reference removed, noise reduced, rumble cut."""

    def __init__(self, sample_rate: int, echo: bool, noise: bool) -> None:
        from livekit import rtc  # heavy import, only for live audio

        self._rtc: Any = rtc
        self.sample_rate = sample_rate
        self.frame = sample_rate * FRAME_MS // 1000
        self.echo = echo
        self._apm = rtc.AudioProcessingModule(
            echo_cancellation=echo, noise_suppression=noise, high_pass_filter=True
        )
        self._framer = Framer(self.frame)
        self._pending_ref = np.zeros(0, np.int16)
        self._max_pending = sample_rate // 10  # 100 ms: more would mean the two streams drift

    def process(self, mic: Pcm16, reference: Pcm16 | None = None) -> Pcm16:
        """Clean ``mic`` (any length; output lags by under 10 ms) against ``reference``.

        ``reference`` is what the speaker played over the same stretch of time, at the same
        rate; its length may differ by a few samples from the microphone's.
        """
        mic = self._framer.push(mic)
        usable = len(mic)
        ref = self._aligned_reference(reference, usable) if self.echo else None
        out = np.empty(usable, np.int16)
        for i in range(0, usable, self.frame):
            if ref is not None:
                self._apm.process_reverse_stream(self._audio_frame(ref[i : i + self.frame]))
            frame = self._audio_frame(mic[i : i + self.frame])
            self._apm.process_stream(frame)
            out[i : i + self.frame] = np.frombuffer(frame.data, np.int16)
        return out

    def _aligned_reference(self, reference: Pcm16 | None, n: int) -> Pcm16:
        """The next ``n`` reference samples, as one unbroken stream.

        A resampled reference arrives a sample or two more or less than the microphone per
        call; a small FIFO evens that out, because every gap or jump in the reference would
        throw the canceller off. Silence fills in only when no reference comes at all.
        """
        ref = self._pending_ref
        if reference is not None and reference.size:
            ref = np.concatenate([ref, reference])
        if len(ref) < n:
            ref = np.concatenate([np.zeros(n - len(ref), np.int16), ref])
        self._pending_ref = ref[n:][-self._max_pending :]
        return ref[:n]

    def _audio_frame(self, pcm: Pcm16) -> Any:
        return self._rtc.AudioFrame(pcm.tobytes(), self.sample_rate, 1, len(pcm))
