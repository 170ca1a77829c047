"""Endpointing with webrtcvad: pre-roll, onset, end-of-speech hangover, min and max length.

Besides the utterances it decides itself (after ``hangover_ms`` of silence), the segmenter
reports pauses as they grow (``SpeechPaused`` at ``speculate_ms``, then at ``short_ms`` and every
``recheck_ms`` after), speech that resumes after such a pause (``SpeechResumed``), and lets its
owner end an utterance early (``end_now``, when an end-of-turn model says the speaker is done)
or take the last one back (``merge_last``, when the speaker went on right after it).

webrtcvad keeps calling frames voiced for 60-120 ms after speech has ended (its own hangover),
in any room noise. Every pause would begin that much late, and with it every end-of-turn
decision. So with ``over_floor_db`` (used with the end-of-turn model), within an utterance a
frame counts as voiced only when it is also that far above the room's noise floor: the median
level of the last two seconds heard outside speech. Where that floor is digital silence (a
virtual or muted-then-unmuted microphone, a socket's client that gates its own input), "over the
floor" would still count a word's fading tail as speech down to -80 dBFS; ``voiced_min_dbfs``
(the noise gate's threshold, on live audio) is the level below which a frame is never speech.
Such a tail still counts as heard: the pause, and with it recognition of the utterance so far,
begins where the word fades under the minimum (``speculate_ms`` later), while the end-of-turn
checkpoints (``short_ms``, ``recheck_ms``) and the hangover count the silence since the last
frame heard, as webrtcvad and the floor judge it. Between two sentences ("Stop. What is...")
the model is then asked no sooner than before, and does not end the turn between them.
Silence endpointing keeps webrtcvad's hangover: its 300 ms were tuned with it, and without it a
comma's pause would end a turn.

With ``progress_ms`` the segmenter also reports the utterance so far while the user speaks
(``SpeechProgress``), for recognition as it goes: every ``progress_ms`` of stream time, on a
voiced frame, once the utterance holds a second of speech (Whisper invents words on shorter
audio). It is decided on stream time, so the same audio always gives the same reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

from assistant.audio.framing import PairedFramer
from assistant.audio.gate import level_dbfs
from assistant.audio.merge_window import MergeWindow
from assistant.audio.noise_floor import NoiseFloor
from assistant.audio.onset import OnsetWindow
from assistant.audio.vad_events import (
    SpeechPaused,
    SpeechProgress,
    SpeechResumed,
    SpeechStarted,
    Utterance,
    VadEvent,
)
from assistant.types import Pcm16

__all__ = [
    "SpeechPaused",
    "SpeechProgress",
    "SpeechResumed",
    "SpeechStarted",
    "Utterance",
    "VadConfig",
    "VadEvent",
    "VadSegmenter",
    "is_checkpoint",
]


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
    short_ms: int = 0  # further SpeechPaused at this silence and every recheck_ms; 0 = none
    recheck_ms: int = 400
    merge_ms: int = 0  # how long after an utterance ``merge_last`` can still take it back
    # Inside speech a voiced frame must be this far above the noise floor; 0 = off (webrtcvad's
    # own hangover then lengthens every pause, as it always did with silence endpointing).
    over_floor_db: float = 0.0
    # ...and at least this loud (with over_floor_db; -100 = no minimum)
    voiced_min_dbfs: float = -100.0
    progress_ms: int = 0  # SpeechProgress this often while speaking; 0 = never


PROGRESS_AFTER_MS = 1000  # speech an utterance holds before its first SpeechProgress


def is_checkpoint(cfg: VadConfig, pause_ms: int, silence_ms: int, extra_ms: int) -> bool:
    """Whether a pause is reported as it grows.

    At ``speculate_ms`` of ``pause_ms`` (since the last voiced frame); at ``extra_ms`` (0: none),
    at ``short_ms`` and every ``recheck_ms`` after of ``silence_ms`` (since the last heard one).
    """
    if pause_ms == max(1, round(cfg.speculate_ms / cfg.frame_ms)) * cfg.frame_ms:
        return True
    extra = extra_ms // cfg.frame_ms * cfg.frame_ms
    if extra and silence_ms == extra:
        return True
    if not cfg.short_ms or silence_ms < cfg.short_ms:
        return False
    return (silence_ms - cfg.short_ms) % cfg.recheck_ms < cfg.frame_ms


class ProgressClock:
    """When speech in progress is reported (``SpeechProgress``), on stream time.

    At most every ``progress_ms``, once the utterance holds ``PROGRESS_AFTER_MS`` of speech.
    """

    def __init__(self, cfg: VadConfig) -> None:
        self.frame_ms, self.every_ms = cfg.frame_ms, cfg.progress_ms
        self._last = 0  # index of the frame after the last report

    def due(self, index: int, voiced: int) -> bool:
        """Whether frame ``index``, voiced, with ``voiced`` frames of speech so far, reports."""
        if not self.every_ms or voiced * self.frame_ms < PROGRESS_AFTER_MS:
            return False
        if (index + 1 - self._last) * self.frame_ms < self.every_ms:
            return False
        self._last = index + 1
        return True


class VadSegmenter:
    """Feeds on PCM chunks of any size and returns speech events as they are decided."""

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = cfg = config or VadConfig()
        self._vad = webrtcvad.Vad(cfg.aggressiveness)
        self._frame = cfg.sample_rate * cfg.frame_ms // 1000
        self._onset = OnsetWindow(cfg.frame_ms, cfg.preroll_ms)
        self._speculate_frames = max(1, round(cfg.speculate_ms / cfg.frame_ms))
        self._frames = PairedFramer(self._frame)
        self._frames_seen = 0
        self._merge = MergeWindow(cfg.frame_ms, cfg.merge_ms)
        self._onset_frames = 0
        self.extra_checkpoint_ms = 0  # one more SpeechPaused at this silence (0 = none)
        self._floor = NoiseFloor(cfg.frame_ms)
        self._progress = ProgressClock(cfg)
        self._reset_speech()

    def _reset_speech(self) -> None:
        self._speech: list[Pcm16] | None = None  # None while idle
        self._start_frame = 0
        self._last_voiced = 0  # index of the frame after the last voiced one
        self._voiced = 0
        self._silence_run = 0  # frames since the last voiced one: where the pause begins
        self._quiet_run = 0  # frames since the last heard one: what decisions wait on

    def feed(self, pcm: Pcm16, vad_pcm: Pcm16 | None = None) -> list[VadEvent]:
        """Consume samples; return the events they complete.

        ``vad_pcm`` (same length), when given, is what the speech decisions are made on, e.g.
        the output of a noise gate, while ``pcm`` is what utterances are made of.
        """
        if vad_pcm is None:
            vad_pcm = pcm
        elif len(vad_pcm) != len(pcm):
            raise ValueError("vad_pcm must have the length of pcm")
        events = [
            self._on_frame(frame, decide) for frame, decide in self._frames.split(pcm, vad_pcm)
        ]
        return [event for event in events if event is not None]

    def flush(self) -> list[VadEvent]:
        """End of stream: close an utterance still open."""
        utt = self._finish() if self._speech is not None else None
        return [utt] if utt is not None else []

    def _seconds(self, frames: int) -> float:
        return frames * self._frame / self.config.sample_rate

    def _seconds_to_frame(self, seconds: float) -> int:
        return round(seconds * self.config.sample_rate / self._frame)

    def _on_frame(self, frame: Pcm16, decide: Pcm16) -> VadEvent | None:
        voiced = bool(decide.any()) and self._vad.is_speech(
            decide.tobytes(), self.config.sample_rate
        )
        index = self._frames_seen
        self._frames_seen += 1
        if self._speech is None:
            self._floor.hear(frame)
            return self._idle(frame, voiced, index)
        self._speech.append(frame)
        heard = voiced  # counts towards min_speech_ms
        if voiced and self.config.over_floor_db:
            heard = self._floor.is_over(frame, self.config.over_floor_db)
            # a word's fading tail under the minimum is heard, but the pause begins there
            voiced = heard and level_dbfs(frame) >= self.config.voiced_min_dbfs
        self._voiced += heard
        self._quiet_run = 0 if heard else self._quiet_run + 1
        paused = self._silence_run >= self._speculate_frames
        if voiced:
            self._silence_run = 0
            self._last_voiced = index + 1
            if paused and self.config.speculate_ms:
                return SpeechResumed(self._seconds(index))
        else:
            self._silence_run += 1
        cfg = self.config
        silence_ms = self._quiet_run * cfg.frame_ms
        if silence_ms >= cfg.hangover_ms:
            return self._finish()
        pause_ms = self._silence_run * cfg.frame_ms
        if cfg.speculate_ms and is_checkpoint(cfg, pause_ms, silence_ms, self.extra_checkpoint_ms):
            return SpeechPaused(
                np.concatenate(self._speech),
                self._seconds(self._start_frame),
                self._seconds(self._last_voiced),
                silence_ms,
            )
        if self._seconds(len(self._speech)) >= cfg.max_utterance_s:
            return self._finish(forced=True)
        if voiced and self._progress.due(index, self._voiced):
            start, end = self._seconds(self._start_frame), self._seconds(index + 1)
            return SpeechProgress(np.concatenate(self._speech), start, end)
        return None

    @property
    def silence_ms(self) -> int:
        """Silence since the last heard frame of the utterance in progress (0 while idle)."""
        return self._quiet_run * self.config.frame_ms if self._speech is not None else 0

    def end_now(self) -> Utterance | None:
        """End the utterance in progress here (the speaker is done); None if there is none."""
        return self._finish() if self._speech is not None else None

    def merge_last(self) -> float | None:
        """Continue the last utterance with the speech that just started, silence between kept.

        Returns the merged utterance's start, or None when it is too long ago (``merge_ms``)
        or the speech in progress is not a new start.
        """
        if self._speech is None or (last := self._merge.take()) is None:
            return None
        frames, start, voiced = last
        self._speech = frames + self._speech[self._onset_frames :]
        self._start_frame, self._voiced = start, self._voiced + voiced
        return self._seconds(start)

    def _idle(self, frame: Pcm16, voiced: bool, index: int) -> SpeechStarted | None:
        self._merge.hear(frame)
        onset = self._onset.hear(frame, voiced, index)
        if onset is None:
            return None
        self._speech = onset.frames
        self._onset_frames = len(self._speech)  # the pre-roll: also the end of the merge gap
        self._start_frame, self._voiced = onset.first_voiced, onset.voiced
        self._last_voiced = index + 1
        return SpeechStarted(
            start=self._seconds(onset.first_voiced), detected_at=self._seconds(index + 1)
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
        if not forced:
            self._merge.keep(frames, self._seconds_to_frame(start), voiced)
        return Utterance(
            audio=np.concatenate(frames),
            start=start,
            end=end,
            detected_at=self._seconds(self._frames_seen),
            forced=forced,
        )
