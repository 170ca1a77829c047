"""What the user heard of a reply: its audio kept clause by clause as it goes out.

Both the speaker and the voice socket keep a ReplyLedger. When the user speaks over a reply,
the words heard are the clauses played in full plus the played share of the clause cut off;
the conversation history keeps only those.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.audio.playback import Chunk
from assistant.pipeline.frames import ReplyAudioFrame


@dataclass
class ClauseAudio:
    """The audio of one clause of a reply, chunk by chunk as it was queued."""

    text: str
    chunks: list[Chunk] = field(default_factory=list)


def heard_text(clauses: dict[int, ClauseAudio]) -> str:
    """The words played so far: whole clauses, then the share of the one cut off."""
    words: list[str] = []
    for index in sorted(clauses):
        clause = clauses[index]
        total = sum(len(c.pcm) for c in clause.chunks)
        played = sum(min(c.played, len(c.pcm)) for c in clause.chunks)
        clause_words = clause.text.split()
        if played >= total > 0:
            words += clause_words
            continue
        if total:
            words += clause_words[: int(len(clause_words) * played / total)]
        break
    return " ".join(words)


class ReplyLedger:
    """The reply audio of the turns still going out, in clause order."""

    def __init__(self) -> None:
        self._turns: dict[int, dict[int, ClauseAudio]] = {}

    def add(self, frame: ReplyAudioFrame) -> Chunk:
        """Record a piece of reply audio; returns its chunk, whose ``played`` tells progress."""
        chunk = Chunk(frame.pcm, frame.turn_id)
        clauses = self._turns.setdefault(frame.turn_id, {})
        clauses.setdefault(frame.clause_index, ClauseAudio(frame.clause)).chunks.append(chunk)
        return chunk

    def chunks(self, turn_id: int) -> list[Chunk]:
        """The turn's chunks in the order they play."""
        clauses = self._turns.get(turn_id, {})
        return [chunk for index in sorted(clauses) for chunk in clauses[index].chunks]

    def heard(self, turn_id: int) -> str:
        """The words of the turn played so far."""
        return heard_text(self._turns.get(turn_id, {}))

    def forget(self, turn_id: int) -> None:
        """Drop the turn and any older one."""
        for turn in [t for t in self._turns if t <= turn_id]:
            del self._turns[turn]
