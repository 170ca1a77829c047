"""LocalAgreement-2: which words of the hypotheses heard while the user speaks are settled.

The utterance so far is recognised again every few hundred milliseconds. A word is confirmed
once two passes in a row agree on it (ufal/whisper_streaming; Macháček et al., 2023, found
two passes the best trade-off between delay and flicker): the confirmed words are the longest
common prefix of the last two hypotheses, compared without case and punctuation, and they
never change again. The last word of a pass is never confirmed (the audio may end inside it),
and the punctuation after the last confirmed word is held back until a later word is
confirmed: "France" may still become "France?", and the end-of-turn decision reads that mark.
"""

from __future__ import annotations

import re

_NOT_WORD = re.compile(r"[^\w']")
_HELD_BACK = ".,?!;:…"  # trailing marks of the last confirmed word, not promised yet


def norm(word: str) -> str:
    """A word as agreement compares it: case-folded, without punctuation but inner apostrophes."""
    return _NOT_WORD.sub("", word.casefold()).strip("'")


def agree(confirmed: int, previous: list[str], current: list[str]) -> int:
    """How many words of ``current`` are confirmed, given ``confirmed`` already were.

    Never fewer than ``confirmed``; more only when both passes begin with the confirmed words,
    and never the last word of ``current``.
    """
    if [norm(w) for w in previous[:confirmed]] != [norm(w) for w in current[:confirmed]]:
        return confirmed
    limit = min(len(previous), len(current) - 1)
    count = confirmed
    while count < limit and norm(previous[count]) == norm(current[count]):
        count += 1
    return count


def settled(words: list[str]) -> str:
    """The confirmed words as text, the last one's trailing punctuation held back."""
    return " ".join(words).rstrip(_HELD_BACK)


def begins_with(text: str, words: list[str]) -> bool:
    """Whether ``text`` starts with ``words`` (compared as ``agree`` compares)."""
    heard = text.split()[: len(words)]
    return [norm(w) for w in heard] == [norm(w) for w in words]
