"""Word boundaries and cut points of the dev set (maintenance: ``bench/devset.py --align``).

faster-whisper tiny.en transcribes each recording with word timestamps; its words are matched
to the reference text, and the middle of each matched pair's gap is moved to the quietest 10 ms
frame within 150 ms. The result, with the seeded cuts, goes to bench/data/devset.json.
"""

from __future__ import annotations

import difflib
import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from assistant.pipeline.turn_taking import sounds_unfinished
from bench import devset_audio as audio
from bench.devset import MANIFEST, MODELS, PAUSES_S, RECORDINGS, SOURCE, TEXTS


def _reference(rec_id: str, rel: str) -> str:
    if rec_id in TEXTS:
        return TEXTS[rec_id]
    listing = SOURCE / rel.split("/")[0]
    name = Path(rel).stem
    for path in (listing / "transcription", listing / "cards.transcription"):
        if path.exists():
            for line in path.read_text().splitlines():
                if line.rstrip().endswith(f"({name})"):
                    return " ".join(w for w in line.split()[:-1] if w not in ("<s>", "</s>"))
    raise KeyError(rec_id)


_SPOKEN = {
    str(i): w for i, w in enumerate("zero one two three four five six seven eight nine ten".split())
}


def _norm(word: str) -> str:
    """Whisper's spelling of a word as the references spell it ("10" ten, "Mr." mister)."""
    plain = word.strip().lower().strip(".,?!-")
    return _SPOKEN.get(plain, "mister" if plain == "mr" else plain)


def align() -> None:
    """Transcribe every recording, find its word boundaries and cuts; write the manifest."""
    from faster_whisper import WhisperModel

    stt = WhisperModel(str(MODELS / "whisper-tiny.en"), device="cpu", compute_type="int8")
    entries = []
    for rec_id, rel, split in RECORDINGS:
        pcm = audio.read_pcm(SOURCE / rel)
        segments, _ = stt.transcribe(pcm.astype(np.float32) / 32768, word_timestamps=True)
        heard = [w for s in segments for w in (s.words or [])]
        reference = _reference(rec_id, rel).split()
        norm = [_norm(w.word) for w in heard]
        matcher = difflib.SequenceMatcher(a=reference, b=norm, autojunk=False)
        where = {a + k: b + k for a, b, n in matcher.get_matching_blocks() for k in range(n)}
        bounds = []
        for i in range(len(reference) - 1):
            if i in where and i + 1 in where:
                mid = (heard[where[i]].end + heard[where[i + 1]].start) / 2
                t = audio.quietest(pcm, mid)
                bounds.append(
                    {"after": i, "t": t, "db": round(float(audio.frame_db(pcm)[int(t * 100)]), 1)}
                )
        entry = {
            "id": rec_id,
            "file": rel,
            "split": split,
            "text": " ".join(reference),
            "heard": " ".join(w.word.strip() for w in heard),
            "words": [[w.word.strip(), round(w.start, 2), round(w.end, 2)] for w in heard],
            "boundaries": bounds,
        }
        entry["cuts"] = _cuts(entry, float(np.percentile(audio.frame_db(pcm), 5)))
        entries.append(entry)
    MANIFEST.write_text(
        json.dumps({"source": "pocketsphinx-testdata", "recordings": entries}, indent=1) + "\n"
    )


def _cuts(entry: dict[str, Any], floor_db: float) -> list[dict[str, Any]]:
    """1-2 seeded cut points at distinct quiet boundaries, after open words ("of", "the") first.

    Quiet: within 10 dB of the floor; a louder boundary is co-articulated and never cut.
    """
    words = entry["text"].split()
    quiet = [b for b in entry["boundaries"] if b["db"] <= floor_db + 10.0]
    rng = np.random.default_rng(zlib.crc32(entry["id"].encode()))
    order = sorted(quiet, key=lambda b: (not sounds_unfinished(words[b["after"]]), rng.random()))
    chosen: list[dict[str, Any]] = []
    for b in order if len(words) >= 3 else []:
        if len(chosen) < (2 if len(words) >= 8 else 1) and all(
            abs(b["t"] - c["t"]) >= 0.3 for c in chosen
        ):
            chosen.append(b)
    return [
        {**b, "pause_s": float(rng.choice(PAUSES_S))} for b in sorted(chosen, key=lambda b: b["t"])
    ]
