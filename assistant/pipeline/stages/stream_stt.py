"""Recognition while the user speaks: LocalAgreement-2 over passes on the utterance so far.

Each pass decodes the whole utterance so far (at most 30 s, so nothing is trimmed or aligned
in time), with the confirmed words forced as the decoder's prefix: only the words after them
are generated, and every hypothesis begins with them. Two passes are compared as word lists
(pipeline/partial_words.py). At the pause the final is decoded the same way, so every
partial's confirmed words are a prefix of the final text; a continuation that fails to decode
is decoded whole instead, and when that disagrees with the confirmed words they start again.

Every method blocks (a model call): the STT stage runs them all on its one model thread, so
they never overlap, and it only reads what they return.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.models.interfaces import Float32, SpeechToText, Transcript
from assistant.pipeline.partial_words import agree, begins_with, settled


@dataclass(frozen=True)
class Hypothesis:
    """What a pass heard: the whole hypothesis and its confirmed words."""

    text: str  # stable words, then the newest pass's others
    stable: str  # confirmed words (see partial_words.settled): a prefix of ``text``
    grew: bool  # more words were confirmed by this pass
    restarted: bool = False  # the confirmed words started again (not a continuation)


@dataclass(frozen=True)
class Final:
    """The transcript at a pause or at the end, and the hypothesis it makes as a pass."""

    transcript: Transcript
    hypothesis: Hypothesis | None  # None when no speech was heard
    streamed: bool  # only the words after the confirmed ones were decoded


class StreamingRecognizer:
    """LocalAgreement-2 over whole-utterance passes with the confirmed words forced as prefix."""

    def __init__(self, stt: SpeechToText) -> None:
        self.stt = stt
        self.reset()

    def reset(self) -> None:
        """Forget the utterance followed so far."""
        self.start: float | None = None  # onset (stream s) of the speech it follows
        self.stable: list[str] = []  # confirmed words, surface forms; only ever appended to
        self._previous: list[str] = []  # the last pass's words
        self._shown = ("", "")  # (text, stable) of the last hypothesis returned
        self._restarted = False

    def step(self, audio: Float32, start: float) -> Hypothesis | None:
        """One pass on the utterance so far; None when nothing new was heard."""
        self._follow(start)
        prefix = settled(self.stable)
        heard = self.stt.transcribe_after(audio, prefix) if prefix else None
        if heard is None:  # nothing confirmed yet, or the continuation failed
            heard = self.stt.transcribe(audio)
        if not heard.text:
            return None
        hypothesis = self._observe(heard.text.split())
        if (hypothesis.text, hypothesis.stable) == self._shown and not hypothesis.restarted:
            return None
        self._shown = (hypothesis.text, hypothesis.stable)
        return hypothesis

    def finish(self, audio: Float32, start: float, tail: bool = True) -> Final:
        """The transcript of the utterance: the confirmed words and a decode of the rest.

        ``tail`` False decodes it whole, as without streaming. Either way the result counts
        as one more pass: if the turn is withdrawn (the user goes on), so are its words.
        """
        self._follow(start)
        prefix = settled(self.stable)
        heard = self.stt.transcribe_after(audio, prefix) if prefix and tail else None
        streamed = heard is not None
        if heard is None:
            heard = self.stt.transcribe(audio)
            if self.stable and heard.text and not begins_with(heard.text, self.stable):
                self.stable, self._previous, self._restarted = [], [], True
        hypothesis = self._observe(heard.text.split()) if heard.text else None
        if hypothesis is not None:
            self._shown = (hypothesis.text, hypothesis.stable)
        return Final(heard, hypothesis, streamed)

    def _follow(self, start: float) -> None:
        if start != self.start:
            self.reset()
            self.start = start

    def _observe(self, words: list[str]) -> Hypothesis:
        confirmed = len(self.stable)
        count = agree(confirmed, self._previous, words)
        self.stable += words[confirmed:count]
        self._previous = words
        restarted, self._restarted = self._restarted, False
        rest = words[count:] if begins_with(" ".join(words), self.stable) else []
        text = " ".join(self.stable + rest)
        return Hypothesis(text, settled(self.stable), count > confirmed, restarted)
