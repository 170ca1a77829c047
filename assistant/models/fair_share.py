"""Long speech work cut into short turns, so requests sharing one speech model take turns fairly.

The hub runs one synthesis and one transcription at a time on its shared models. A request
holds the model for one turn, then queues again behind whoever waited meanwhile (``asyncio.Lock``
wakes its waiters first in, first out): a long text or a long recording from one client delays
another client's short one by one turn at most, not by the whole of it.

- Text is cut into pieces of whole sentences of at most ``PIECE_CHARS`` characters (a sentence
  longer than that at its last comma or space), about five seconds of Piper's work on 2 cores.
  Text that fits in one piece is spoken in one call, as before.
- Audio longer than Whisper's 30 s window is cut at its quietest 100 ms within the last
  ``SEEK_S`` seconds of each window, so a cut seldom falls inside a word.
"""

from __future__ import annotations

import re
import threading

import numpy as np

from assistant.models.interfaces import Pcm16, TextToSpeech, Transcript

PIECE_CHARS = 240  # characters of text per turn on the voice
CHUNK_S = 30.0  # seconds of audio per turn on the speech model (Whisper's window)
SEEK_S = 8.0  # how far back from a window's end a quiet moment to cut at is looked for
_RATE = 16000
_FRAME = _RATE // 10  # 100 ms
_SENTENCE_END = re.compile(r"(?<=[.!?…;:])\s+|\n+")
_SOFT_BREAK = re.compile(r"[,\s]")


def speech_pieces(text: str, max_chars: int = PIECE_CHARS) -> list[str]:
    """``text`` as consecutive pieces of whole sentences, each at most ``max_chars`` long."""
    pieces: list[str] = []
    current = ""
    for sentence in _sentences(text, max_chars):
        if current and len(current) + 1 + len(sentence) > max_chars:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces


def _sentences(text: str, max_chars: int) -> list[str]:
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        rest = sentence.strip()
        while len(rest) > max_chars:
            cut = max((m.end() for m in _SOFT_BREAK.finditer(rest, 0, max_chars)), default=0)
            cut = cut if cut > max_chars // 2 else max_chars  # no break near the end: cut there
            out.append(rest[:cut].strip())
            rest = rest[cut:].strip()
        if rest:
            out.append(rest)
    return [s for s in out if s]


def spoken(tts: TextToSpeech, text: str, cancel: threading.Event) -> list[Pcm16]:
    """The audio of ``text`` (one piece), sentence by sentence until ``cancel`` is set."""
    audio: list[Pcm16] = []
    for pcm in tts.synthesize(text):
        audio.append(pcm)
        if cancel.is_set():
            break
    return audio


def audio_chunks(pcm: Pcm16, chunk_s: float = CHUNK_S) -> list[Pcm16]:
    """16 kHz ``pcm`` in chunks of at most ``chunk_s`` seconds, cut where it is quietest."""
    limit, seek = int(chunk_s * _RATE), int(min(SEEK_S, chunk_s / 2) * _RATE)
    chunks: list[Pcm16] = []
    start = 0
    while len(pcm) - start > limit:
        window = pcm[start + limit - seek : start + limit].astype(np.float32)
        frames = window[: len(window) // _FRAME * _FRAME].reshape(-1, _FRAME)
        quietest = int(np.argmin(np.square(frames).mean(axis=1)))
        cut = start + limit - seek + quietest * _FRAME + _FRAME // 2
        chunks.append(pcm[start:cut])
        start = cut
    chunks.append(pcm[start:])
    return chunks


def joined(heard: list[Transcript]) -> Transcript:
    """One transcript of consecutive chunks (the language the first one was heard in)."""
    if len(heard) == 1:
        return heard[0]
    return Transcript(
        " ".join(t.text for t in heard if t.text),
        heard[0].language,
        min(t.no_speech_prob for t in heard),
        max(t.avg_logprob for t in heard),
    )
