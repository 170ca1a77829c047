"""Clause chunker: cuts the streamed reply into clauses so speech starts before the reply ends.

A clause ends at . ! ? … ; : or a newline followed by a space, except after a known abbreviation
or an initial ("Dr. Smith", "J. R."). A comma ends a clause once it holds ``comma_words`` words,
so long sentences start speaking early; the very first clause may end at a comma after
``first_comma_words`` words, because the first clause decides how soon the user hears anything.
For the same reason a first clause of ``first_phrase_words`` words without punctuation is cut
before a word that opens a phrase ("because", "which", "and", "with", ...): "The sky is blue |
because air scatters blue light." With ``first_words`` (off by default) the first clause
ends after that many words, failing all of that. A clause longer than ``max_chars`` is cut at
its last space.
"""

from __future__ import annotations

import re

from assistant.pipeline.events import Clause
from assistant.pipeline.frames import ClauseFrame, DataFrame, ReplyEndFrame, TextFrame
from assistant.pipeline.processor import FrameProcessor

_ABBREVIATIONS = set(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e approx no fig inc ltd co mt u.s a.m p.m".split()
)
_BOUNDARY = re.compile(r"([.!?…;:]+[\"')\]]*|\n+|,)(?=\s)")
_PHRASE_OPENERS = set(
    "and but or so because which that who whom whose when where while if although though with "
    "without for to from in on at by as than since until unless after before during".split()
)
_NEXT_WORD = re.compile(r"\s+([A-Za-z']+)(?=\s)")
_MARKUP = re.compile(r"[*_#`~>|]+|^\s*[-•]\s+", re.MULTILINE)


class ClauseSplitter:
    """Accumulates streamed text and returns complete clauses."""

    def __init__(
        self,
        first_comma_words: int = 3,
        comma_words: int = 6,
        first_phrase_words: int = 4,
        max_chars: int = 240,
        first_words: int = 0,
    ) -> None:
        self.first_words = first_words
        self.first_comma_words = first_comma_words
        self.first_phrase_words = first_phrase_words
        self.comma_words = comma_words
        self.max_chars = max_chars
        self._buffer = ""
        self._emitted = 0

    def push(self, text: str) -> list[str]:
        """Add streamed text; return the clauses it completes."""
        self._buffer += text
        clauses = []
        while (clause := self._next_clause()) is not None:
            clauses.append(clause)
        return [c for c in clauses if c]

    def flush(self) -> str:
        """Whatever is left at the end of the reply."""
        rest, self._buffer = speakable(self._buffer), ""
        self._emitted = 0
        return rest

    def _next_clause(self) -> str | None:
        for match in _BOUNDARY.finditer(self._buffer):
            head = self._buffer[: match.end()]
            if self._is_boundary(head, match.group(1)):
                return self._take(match.end())
        if self._emitted == 0 and (cut := self._phrase_cut() or self._words_cut()) is not None:
            return self._take(cut)
        if len(self._buffer) > self.max_chars:
            cut = self._buffer.rfind(" ", 0, self.max_chars)
            return self._take(cut if cut > 0 else self.max_chars)
        return None

    def _is_boundary(self, head: str, mark: str) -> bool:
        words = len(head.split())
        if mark == ",":
            need = self.first_comma_words if self._emitted == 0 else self.comma_words
            return words >= need
        if mark.startswith(".") and len(mark) == 1:
            last = head[:-1].rsplit(None, 1)[-1].lower() if head[:-1].split() else ""
            if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                return False
        return True

    def _phrase_cut(self) -> int | None:
        """Where a long first clause can end: before a complete word that opens a phrase."""
        for match in _NEXT_WORD.finditer(self._buffer):
            enough = len(self._buffer[: match.start()].split()) >= self.first_phrase_words
            if enough and match.group(1).lower() in _PHRASE_OPENERS:
                return match.start()
        return None

    def _words_cut(self) -> int | None:
        """After ``first_words`` complete words (each followed by a space)."""
        complete = list(re.finditer(r"\S+(?=\s)", self._buffer))
        if self.first_words and len(complete) > self.first_words:
            return complete[self.first_words - 1].end()
        return None

    def _take(self, end: int) -> str:
        clause, self._buffer = self._buffer[:end], self._buffer[end:].lstrip()
        self._emitted += 1
        return speakable(clause)


def speakable(text: str) -> str:
    """Text without markdown symbols and extra whitespace; "" when nothing is left to say."""
    text = " ".join(_MARKUP.sub(" ", text).split())
    return text if any(ch.isalnum() for ch in text) else ""


class ChunkerStage(FrameProcessor):
    """TextFrames in, ClauseFrames out; a ReplyEndFrame flushes the last clause."""

    def __init__(self, splitter: ClauseSplitter | None = None) -> None:
        super().__init__("chunker")
        self.splitter = splitter or ClauseSplitter()
        self._turn = 0  # the reply whose text the splitter holds
        self._language = ""  # and its language

    async def process_frame(self, frame: DataFrame) -> None:
        """Split reply text into clauses."""
        if isinstance(frame, TextFrame):
            self._turn, self._language = frame.turn_id, frame.language
            for clause in self.splitter.push(frame.text):
                await self._clause(frame.turn_id, clause)
            return
        if isinstance(frame, ReplyEndFrame):
            rest = self.splitter.flush()
            if rest:
                await self._clause(frame.turn_id, rest)
        await self.push_frame(frame)

    async def on_interrupt(self, turn_id: int) -> None:
        """Forget the text of a cancelled reply."""
        self.splitter.flush()

    async def on_retract(self, turn_id: int) -> None:
        """Forget the text of the withdrawn reply, if it is the one being split."""
        if turn_id == self._turn:
            self.splitter.flush()

    async def _clause(self, turn: int, text: str) -> None:
        self.bus.publish(Clause(turn_id=turn, text=text))
        await self.push_frame(ClauseFrame(turn_id=turn, text=text, language=self._language))
