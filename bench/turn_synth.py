"""The Piper-spoken tuning turns of the end-of-turn features (bench/turn_texts.py), as audio.

Every text is spoken whole at each of the dev set's two speaking rates. A text with cuts is
also cut open at the word boundaries after its cut words, where silence is inserted, as the
dev set cuts its human recordings: the words before a pause keep the run-on tone of a
sentence that goes on. (Spoken alone, "Tell me about the" ends in the falling tone of a
finished sentence, which no audio model should call unfinished.) A boundary is found by
speaking the words up to it alone: the end of their speech, moved to the quietest 10 ms
frame of the whole within 100 ms, is where they end in the whole sentence too, to within the
lengthening of a phrase's last word.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from assistant.types import Pcm16
from bench import devset, turn_texts
from bench import devset_audio as audio
from tests import media

Clip = tuple[devset.Turn, Pcm16]
CUT_BY = "prefix-v1"  # how a paused clip is made: part of its cache key
SNAP_S = 0.1


def synthetic_clips(cache: Path) -> Iterator[Clip]:
    """Every text whole, and each text with cuts cut open, at both speaking rates.

    The WAVs are kept under ``cache`` and made again only when their text or cuts change.
    """
    from assistant.models.piper import PiperTTS

    voice = devset.MODELS / "piper-en_US-joe-medium" / "en_US-joe-medium.onnx"
    texts = [(t, ()) for t in turn_texts.SHORT] + turn_texts.CUT
    for speed in devset.PIPER_SPEEDS:
        tts = PiperTTS(voice, length_scale=speed)
        for k, (text, cuts) in enumerate(texts):
            for how in ("clean", "paused") if cuts else ("clean",):
                after = cuts if how == "paused" else ()
                chosen = zip(after, turn_texts.pauses(text, after), strict=True)
                entry = {
                    "id": f"synth-{k:02d}-{how}",
                    "split": "tuning",
                    "text": text,
                    "cuts": [{"after": a, "pause_s": p} for a, p in chosen],
                }
                made = [entry, CUT_BY] if after else entry  # a whole text is only framed
                key = zlib.crc32(json.dumps(made, sort_keys=True).encode())
                path = cache / "audio" / f"{entry['id']}.{speed}.{key}.wav"
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    media.write_wav(path, _framed(_cut_open(entry, partial(media.speech, tts))))
                yield devset._turn(entry, f"synth-{speed}", audio.read_pcm(path))


def _framed(speech: Pcm16) -> Pcm16:
    """Speech with the dev set's silence before and after it."""
    lead, tail = (np.zeros(int(s * audio.RATE), np.int16) for s in (devset.LEAD_S, devset.TAIL_S))
    return np.concatenate([lead, speech, tail])


def _cut_open(entry: dict[str, Any], speak: Callable[[str], Pcm16]) -> Pcm16:
    """The text spoken whole, each cut's pause inserted after its word."""
    words = entry["text"].split()
    whole = speak(entry["text"])
    parts, at = [], 0
    for cut in entry["cuts"]:
        prefix = speak(" ".join(words[: cut["after"] + 1]))
        end = audio.speech_bounds(prefix)[1]
        t = max(at, int(audio.quietest(whole, end, SNAP_S) * audio.RATE))
        parts += [whole[at:t], np.zeros(int(cut["pause_s"] * audio.RATE), np.int16)]
        at = t
    return np.concatenate([*parts, whole[at:]])
