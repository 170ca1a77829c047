"""Turn-taking: what the stages share about tentative turns, and the cues of unfinished words.

A tentative turn begins as a pause begins: its utterance is transcribed and answered at once,
but its events and reply audio are held back until the end-of-turn decision confirms it
(ConfirmFrame), or thrown away when the user goes on speaking (RetractFrame). The board is the
one place where the VAD stage learns the tentative transcript (for the cues below) and where
the hold stage asks whether a turn may be heard yet.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from assistant.models.interfaces import EndOfTurn

if TYPE_CHECKING:
    from assistant.llm.turn_end import TurnEndScore
    from assistant.pipeline.turn_fusion import TurnFusion

_T = TypeVar("_T")

# A sentence whose last word is one of these is not over, whatever it sounded like: articles,
# possessives, conjunctions, the prepositions that do not end questions or phrasal verbs
# ("where are you from?", "turn it off" do end), "very", and hesitations.
_OPEN_ENDINGS = set(
    """a an the my your his her its our their and but or nor so because although though if
    unless whereas whether than of to into onto between during within among toward towards
    via per upon very um uh er erm""".split()
)
_WORD = re.compile(r"[A-Za-z']+")


def sounds_unfinished(text: str) -> bool:
    """Whether ``text`` ends where a sentence cannot.

    That is a comma, an ellipsis, a dash, or a word like an article, a possessive, a
    preposition, a conjunction, "very" or a hesitation.
    """
    stripped = text.strip()
    if not stripped or stripped.endswith(("?", "!")):
        return False
    if stripped.endswith((",", "...", "…", "-")):
        return True
    words = _WORD.findall(stripped.lower())
    return bool(words) and words[-1] in _OPEN_ENDINGS


@dataclass
class TurnTaking:
    """How turns end with the end-of-turn model (``vad.end_of_turn = "model"``)."""

    model: EndOfTurn
    threshold: float = 0.5  # P(finished) that ends the turn
    merge_ms: int = 1000  # speech this soon after a turn's end of speech may continue it...
    merge_heard_ms: int = 1000  # ...while no more than this much of its reply has been heard
    board: TurnBoard = field(default_factory=lambda: TurnBoard())
    # With the chat model's opinion (``vad.turn_text``): the fitted weighing of audio, words
    # and the chat model's end-of-message score that decides instead of the rule.
    fusion: TurnFusion | None = None
    # Whether speech over the first second of a reply would be heard (see TentativeTurns._decide).
    echo_known: Callable[[], bool] = lambda: True


class TurnBoard:
    """Tentative turns, their transcripts and text scores, shared by the stages that need them.

    ``wants_scores``: the decision reads the chat model's opinion, so the LLM stage scores
    each tentative turn before its reply (``scored``).
    """

    def __init__(self, wants_scores: bool = False) -> None:
        self.wants_scores = wants_scores
        self._tentative: set[int] = set()
        self._transcripts: dict[int, asyncio.Future[str]] = {}
        self._scores: dict[int, asyncio.Future[TurnEndScore | None]] = {}
        self._scoring: dict[int, asyncio.Future[bool]] = {}  # the LLM stage is on the score

    def open(self, turn: int) -> None:
        """A tentative turn begins."""
        self._tentative.add(turn)
        loop = asyncio.get_running_loop()
        self._transcripts[turn] = loop.create_future()
        self._scores[turn] = loop.create_future()
        self._scoring[turn] = loop.create_future()

    def is_tentative(self, turn: int) -> bool:
        """Whether the turn's reply must still be held back."""
        return turn in self._tentative

    def heard(self, turn: int, text: str) -> None:
        """The tentative turn's transcript ("" when it held no words)."""
        _settle(self._transcripts.get(turn), text)

    def scoring(self, turn: int) -> None:
        """The LLM stage is on the tentative turn's score: no earlier reply holds its model."""
        _settle(self._scoring.get(turn), True)

    def scored(self, turn: int, score: TurnEndScore | None) -> None:
        """The chat model's opinion on the tentative turn's words (None: it gave none)."""
        _settle(self._scores.get(turn), score)

    async def transcript(self, turn: int, timeout: float) -> str | None:
        """The turn's transcript once known; None if it is not known within ``timeout``."""
        return await _wait(self._transcripts.get(turn), timeout)

    async def text_score(self, turn: int, timeout: float, running: float) -> TurnEndScore | None:
        """The chat model's opinion once known, or None.

        None when the LLM stage was not on it within ``timeout`` (still busy with an earlier
        reply), or the score did not come within ``running`` after that.
        """
        if not await _wait(self._scoring.get(turn), timeout):
            return None
        return await _wait(self._scores.get(turn), running)

    def settle(self, turn: int) -> None:
        """The turn is confirmed or withdrawn: no longer tentative."""
        self._tentative.discard(turn)
        for futures in (self._transcripts, self._scores, self._scoring):
            future = futures.pop(turn, None)
            if future is not None and not future.done():
                future.cancel()


def _settle(future: asyncio.Future[_T] | None, value: _T) -> None:
    if future is not None and not future.done():
        future.set_result(value)


async def _wait(future: asyncio.Future[_T] | None, timeout: float) -> _T | None:
    """The future's value; None if there is none or it is not done within ``timeout``."""
    if future is None:
        return None
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout)
    except TimeoutError:
        return None
    except asyncio.CancelledError:
        if future.cancelled():  # the turn was settled meanwhile, not this wait cancelled
            return None
        raise
