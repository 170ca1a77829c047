"""Endpointing with webrtcvad: pre-roll, onset, end-of-speech hangover, min and max length."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import webrtcvad

from assistant.interfaces import Pcm16

ONSET_WINDOW_MS = 100  # speech starts when most frames of this window are voiced
ONSET_SHARE = 0.6


@dataclass(frozen=True)
class SpeechStarted:
    """Speech began at ``start`` (seconds of stream time)."""

    start: float
    detected_at: float  # stream time when the onset was confirmed


@dataclass(frozen=True, eq=False)  # holds an array: compare by identity
class SpeechPaused:
    """Speech has paused for ``speculate_ms``: the utterance so far, in case the pause lasts.

    Transcribing it while the hangover runs takes speech-to-text off the critical path; the
    Utterance that may follow has the same ``start`` and ``end`` when nothing was said since.
    """

    audio: Pcm16
    start: float
    end: float


@dataclass(frozen=True, eq=False)  # holds an array: compare by identity
class Utterance:
    """One stretch of speech, with the pre-roll before it and the hangover after it."""

    audio: Pcm16
    start: float  # stream seconds: first voiced frame
    end: float  # stream seconds: end of the last voiced frame (the true end of speech)
    detected_at: float  # stream seconds when the end was decided
    forced: bool = False  # cut at max_utterance_s rather than by silence


VadEvent = SpeechStarted | SpeechPaused | Utterance


@dataclass(frozen=True)
class VadConfig:
    """Endpointing parameters (see VadSettings for their meaning)."""

    sample_rate: int = 16000  # Hertz: 8000, 16000, 32000 or 48000
    aggressiveness: int = 2
    frame_ms: int = 20
    preroll_ms: int = 300
    hangover_ms: int = 300
    min_speech_ms: int = 200
    max_utterance_s: float = 30.0
    speculate_ms: int = 80  # silence after which a SpeechPaused is sent; 0 = never


class VadSegmenter:
    """Feeds on PCM chunks of any size and returns speech events as they are decided."""

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = cfg = config or VadConfig()
        self._vad = webrtcvad.Vad(cfg.aggressiveness)
        self._frame = cfg.sample_rate * cfg.frame_ms // 1000
        window = max(1, round(ONSET_WINDOW_MS / cfg.frame_ms))
        self._onset: deque[bool] = deque(maxlen=window)
        self._onset_need = math.ceil(ONSET_SHARE * window)
        self._speculate_frames = max(1, round(cfg.speculate_ms / cfg.frame_ms))
        # the onset window is speech already: the pre-roll comes on top of it
        self._preroll: deque[Pcm16] = deque(maxlen=window + cfg.preroll_ms // cfg.frame_ms)
        self._pending = np.zeros(0, np.int16)
        self._pending_vad = np.zeros(0, np.int16)
        self._frames_seen = 0
        self._reset_speech()

    def _reset_speech(self) -> None:
        self._speech: list[Pcm16] | None = None  # None while idle
        self._start_frame = 0
        self._last_voiced = 0  # index of the frame after the last voiced one
        self._voiced = 0
        self._silence_run = 0

    def feed(self, pcm: Pcm16, vad_pcm: Pcm16 | None = None) -> list[VadEvent]:
        """Consume samples; return the events they complete.

        ``vad_pcm`` (same length), when given, is what the speech decisions are made on, e.g.
        the output of a noise gate, while ``pcm`` is what utterances are made of.
        """
        if vad_pcm is None:
            vad_pcm = pcm
        elif len(vad_pcm) != len(pcm):
            raise ValueError("vad_pcm must have the length of pcm")
        data = np.concatenate([self._pending, pcm]) if self._pending.size else pcm
        decide = np.concatenate([self._pending_vad, vad_pcm]) if self._pending.size else vad_pcm
        usable = len(data) - len(data) % self._frame
        self._pending = data[usable:].copy()
        self._pending_vad = decide[usable:].copy()
        events: list[VadEvent] = []
        for i in range(0, usable, self._frame):
            window = slice(i, i + self._frame)
            event = self._on_frame(data[window], decide[window])
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[VadEvent]:
        """End of stream: close an utterance still open."""
        utt = self._finish() if self._speech is not None else None
        return [utt] if utt is not None else []

    def _seconds(self, frames: int) -> float:
        return frames * self._frame / self.config.sample_rate

    def _on_frame(self, frame: Pcm16, decide: Pcm16) -> VadEvent | None:
        voiced = bool(decide.any()) and self._vad.is_speech(
            decide.tobytes(), self.config.sample_rate
        )
        index = self._frames_seen
        self._frames_seen += 1
        if self._speech is None:
            return self._idle(frame, voiced, index)
        self._speech.append(frame)
        if voiced:
            self._voiced += 1
            self._silence_run = 0
            self._last_voiced = index + 1
        else:
            self._silence_run += 1
        cfg = self.config
        if self._silence_run * cfg.frame_ms >= cfg.hangover_ms:
            return self._finish()
        if cfg.speculate_ms and self._silence_run == self._speculate_frames:
            return SpeechPaused(
                np.concatenate(self._speech),
                self._seconds(self._start_frame),
                self._seconds(self._last_voiced),
            )
        if self._seconds(len(self._speech)) >= cfg.max_utterance_s:
            return self._finish(forced=True)
        return None

    def _idle(self, frame: Pcm16, voiced: bool, index: int) -> SpeechStarted | None:
        self._preroll.append(frame)
        self._onset.append(voiced)
        if sum(self._onset) < self._onset_need:
            return None
        first_voiced = index - len(self._onset) + 1 + self._onset.index(True)
        self._speech = list(self._preroll)
        self._start_frame = first_voiced
        self._voiced = sum(self._onset)
        self._last_voiced = index + 1
        self._preroll.clear()
        self._onset.clear()
        return SpeechStarted(
            start=self._seconds(first_voiced), detected_at=self._seconds(index + 1)
        )

    def _finish(self, forced: bool = False) -> Utterance | None:
        assert self._speech is not None
        frames, voiced = self._speech, self._voiced
        start, end = self._seconds(self._start_frame), self._seconds(self._last_voiced)
        self._reset_speech()
        if forced:  # the speaker is still talking: the next utterance starts right here
            self._speech, self._start_frame = [], self._frames_seen
        if voiced * self.config.frame_ms < self.config.min_speech_ms:
            return None
        return Utterance(
            audio=np.concatenate(frames),
            start=start,
            end=end,
            detected_at=self._seconds(self._frames_seen),
            forced=forced,
        )
