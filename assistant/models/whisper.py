"""Speech to text with faster-whisper (CTranslate2, int8 on the CPU by default).

Speed: Whisper's encoder always reads a 30 s window, which costs ~0.4 s on two cores even for
a two-second question. For an utterance that fits, the encoder here reads a shorter window
(the utterance plus at least one second of padding, never less than ``window_s``, default
10 s: shorter windows were measured to make tiny.en repeat itself). A result that looks
degenerate (no end token, or text that compresses too well) is redone through faster-whisper's
own ``transcribe`` on the full window, as are utterances longer than 29 s. ``window_s=30``
always uses the full window.

Continuations (``transcribe_after``, for recognition while the user speaks): the words
already confirmed are forced as the decoder's prefix, after the start tokens, so only the
words after them are generated; the encoder costs the same. CTranslate2 returns the forced
tokens at the head of the result, and they are cut off there.

Hallucinations: Whisper invents text on silence and noise; a result is kept only when the
model is confident there was speech (``no_speech_prob`` at most ``no_speech_threshold``) and
in its text (``avg_logprob`` at least ``log_prob_threshold``). Text that is only punctuation or
a bracketed non-speech tag ("[BLANK_AUDIO]", "(wind)") counts as no speech.
"""

from __future__ import annotations

import math
import os
import re
import zlib
from pathlib import Path

import numpy as np

from assistant.errors import ModelError
from assistant.models.interfaces import Float32, Transcript

_NON_SPEECH = re.compile(r"^[\s\W]*$|^\s*[\[(*][^\])*]*[\])*]\s*$")


def is_non_speech(text: str) -> bool:
    """Whether a transcript is only punctuation or a bracketed tag ("[BLANK_AUDIO]", "(wind)")."""
    return bool(_NON_SPEECH.match(text))


_FULL_WINDOW_S = 30
_FRAMES_PER_S = 100  # Whisper's mel frames per second
_MAX_COMPRESSION = 2.4  # above this the text is repetitive: a decoding failure
_TOKENS_PER_S = 8  # generous upper bound of speech tokens per second of audio


class WhisperSTT:
    """A faster-whisper model; implements the SpeechToText interface."""

    sample_rate = 16000
    continues: bool  # with a fixed language and a short window (see transcribe_after)

    def __init__(
        self,
        path: Path,
        language: str = "en",
        beam_size: int = 1,
        compute_type: str = "int8",
        threads: int = 0,
        no_speech_threshold: float = 0.6,
        log_prob_threshold: float = -1.0,
        window_s: float = 10.0,
        device: str = "cpu",
    ) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        try:
            self._model = WhisperModel(
                str(path),
                device=device,
                compute_type=compute_type,
                cpu_threads=threads or os.cpu_count() or 1,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(
                f"speech model {path} could not be loaded ({exc}); fix stt.model or reinstall the "
                "default models with `make setup`"
            ) from None
        self.language = None if language == "auto" else language
        if self.language not in (None, "en") and not self._model.model.is_multilingual:
            raise ModelError(
                f"speech model {path} is English-only but stt.language is {language!r}; set "
                "stt.language=en or configure a multilingual model"
            )
        self.beam_size = beam_size
        self.no_speech_threshold = no_speech_threshold
        self.log_prob_threshold = log_prob_threshold
        self.window_s = window_s
        self._tokenizer = Tokenizer(
            self._model.hf_tokenizer, self._model.model.is_multilingual, "transcribe", self.language
        )
        self._suppress = get_suppressed_tokens(self._tokenizer, [-1])
        self.continues = self.language is not None and window_s < _FULL_WINDOW_S

    def transcribe(self, audio: Float32) -> Transcript:
        """Transcribe one utterance; ``text`` is empty when no speech was heard."""
        seconds = len(audio) / self.sample_rate
        fast = None
        if self.window_s < _FULL_WINDOW_S and seconds + 1 < _FULL_WINDOW_S and self.language:
            fast = self._short_window(audio, seconds)
        return fast or self._full_window(audio)

    def transcribe_after(self, audio: Float32, prefix: str) -> Transcript | None:
        """Decode only the words after ``prefix`` (see the module); None: decode it whole."""
        seconds = len(audio) / self.sample_rate
        if not self.continues or seconds + 1 >= _FULL_WINDOW_S:
            return None
        return self._short_window(audio, seconds, prefix.strip())

    def _short_window(self, audio: Float32, seconds: float, prefix: str = "") -> Transcript | None:
        import ctranslate2

        model, tokenizer = self._model, self._tokenizer
        features = model.feature_extractor(audio)
        frames = math.ceil(features.shape[-1] / _FRAMES_PER_S + 1) * _FRAMES_PER_S
        frames = min(
            max(frames, int(self.window_s * _FRAMES_PER_S)), _FULL_WINDOW_S * _FRAMES_PER_S
        )
        features = np.pad(features, ((0, 0), (0, max(0, frames - features.shape[-1]))))
        encoded = model.model.encode(
            ctranslate2.StorageView.from_array(features[None, :, :frames].copy())
        )
        forced = tokenizer.encode(" " + prefix) if prefix else []
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps, *forced]
        budget = int(seconds * _TOKENS_PER_S) + 16
        result = model.model.generate(
            encoded,
            [prompt],
            beam_size=self.beam_size,
            max_length=len(prompt) + budget,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=not forced,
            suppress_tokens=self._suppress,
        )[0]
        ids = result.sequences_ids[0]
        if ids[: len(forced)] == forced:  # the forced words come back first
            ids = ids[len(forced) :]
        tokens = [t for t in ids if t < tokenizer.eot]
        tail = tokenizer.decode(tokens)
        if len(ids) >= budget or _compression(tail) > _MAX_COMPRESSION:
            return None  # a decoding failure: redo it on the full window
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        text = (prefix + tail).strip()
        return self._judge(text, result.no_speech_prob, avg_logprob, self.language or "en")

    def _full_window(self, audio: Float32) -> Transcript:
        segments, info = self._model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
            no_speech_threshold=self.no_speech_threshold,
            log_prob_threshold=self.log_prob_threshold,
        )
        kept: list[str] = []
        no_speech, logprob = 1.0, -10.0
        for seg in segments:
            heard = self._judge(seg.text, seg.no_speech_prob, seg.avg_logprob, info.language)
            no_speech, logprob = min(no_speech, seg.no_speech_prob), max(logprob, seg.avg_logprob)
            if heard.text:
                kept.append(heard.text)
        return Transcript(" ".join(kept), info.language, no_speech, logprob)

    def _judge(
        self, text: str, no_speech_prob: float, avg_logprob: float, language: str
    ) -> Transcript:
        speech = (
            not is_non_speech(text)
            and no_speech_prob <= self.no_speech_threshold
            and avg_logprob >= self.log_prob_threshold
        )
        return Transcript(text.strip() if speech else "", language, no_speech_prob, avg_logprob)


def _compression(text: str) -> float:
    data = text.encode()
    return len(data) / len(zlib.compress(data)) if data else 0.0
