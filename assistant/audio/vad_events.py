"""What the VAD segmenter reports: speech started, going on, paused, resumed, and utterances."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.types import Pcm16


@dataclass(frozen=True)
class SpeechStarted:
    """Speech began at ``start`` (seconds of stream time)."""

    start: float
    detected_at: float  # stream time when the onset was confirmed


@dataclass(frozen=True, eq=False)  # holds an array: compare by identity
class SpeechPaused:
    """Speech has paused for ``silence_ms``: the utterance so far, in case the pause lasts.

    Transcribing it while the pause runs takes speech-to-text off the critical path; the
    Utterance that may follow has the same ``start`` and ``end`` when nothing was said since.
    ``audio`` ends with the silence so far.
    """

    audio: Pcm16
    start: float
    end: float
    silence_ms: int = 0


@dataclass(frozen=True, eq=False)  # holds an array: compare by identity
class SpeechProgress:
    """Speech is going on: the utterance so far, to recognise while the user still speaks.

    Sent every ``progress_ms`` of stream time while a frame is voiced, once the utterance holds
    a second of speech; never during a pause.
    """

    audio: Pcm16
    start: float  # stream seconds: first voiced frame
    end: float  # stream seconds: end of the frame that completed it


@dataclass(frozen=True)
class SpeechResumed:
    """Speech went on at ``at`` (stream seconds) after a reported pause."""

    at: float


@dataclass(frozen=True, eq=False)  # holds an array: compare by identity
class Utterance:
    """One stretch of speech, with the pre-roll before it and the hangover after it."""

    audio: Pcm16
    start: float  # stream seconds: first voiced frame
    end: float  # stream seconds: end of the last voiced frame (the true end of speech)
    detected_at: float  # stream seconds when the end was decided
    forced: bool = False  # cut at max_utterance_s rather than by silence


VadEvent = SpeechStarted | SpeechProgress | SpeechPaused | SpeechResumed | Utterance
