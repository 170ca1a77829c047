"""The end-of-turn fusion's data: what the pipeline knows at every checkpoint of every pause.

Run with ``python bench/turn_features.py``. For every turn of the human-speech dev set
(bench/devset.py, all variants) and of a Piper-spoken tuning set (bench/turn_synth.py, two
speaking rates), and for every pause in it (each ``hold`` span, a silence of 100 ms or more
inside the turn, and the ``eot`` span after it), it collects what ``TentativeTurns`` has at
hand, causally, as bench/eot.py feeds it:
- the transcript: the project's Whisper on the audio from the turn's start (less the VAD's
  pre-roll) to 80 ms into the pause, as the STT stage transcribes a tentative turn;
- the chat model's end-of-message score on it (``LanguageModel.turn_end``, default system
  prompt), once per pause: only the audio changes between checkpoints;
- Smart Turn's probability on the audio up to each checkpoint (120 ms into the pause, then
  every 400 ms, within the span; up to the 2 s long limit after the turn).
One row per checkpoint goes to bench/data/turn_features.jsonl (committed; floats rounded to 4
significant digits); per-clip results are cached under bench/results/turn_features/.
An empty transcript keeps its row with ``empty: true``: the decision waits on one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant import config
from assistant.models.loaders import Models, load_models
from assistant.types import ChatMessage, Pcm16
from bench import devset
from bench.devset_audio import RATE, read_pcm
from bench.turn_synth import Clip, synthetic_clips

OUT = Path(__file__).with_name("data") / "turn_features.jsonl"
CACHE = Path(__file__).with_name("results") / "turn_features"
VERSION = 1  # bump when what a row holds changes: the cache is keyed on it
FIRST_MS, EVERY_MS, LONG_MS = 120, 400, 2000  # vad.turn_short_ms, turn_recheck_ms, turn_long_ms
SPECULATE_S = 0.08  # vad.speculate_ms: the tentative turn is transcribed at this pause
PREROLL_S = 0.3  # vad.preroll_ms: the segmenter's utterance starts this much before speech


def checkpoints(span_s: float, kind: str) -> list[int]:
    """The pause lengths (ms) at which the decision is taken within a span of ``span_s``."""
    last = LONG_MS - 1 if kind == "eot" else span_s * 1000
    return list(range(FIRST_MS, int(min(last, span_s * 1000)) + 1, EVERY_MS))


def _sig(x: float) -> float:
    return float(f"{x:.4g}")


def clip_rows(turn: devset.Turn, pcm: Pcm16, models: Models, system: str) -> list[dict[str, Any]]:
    """The rows of one clip: each pause's transcript and text score, each checkpoint's audio."""
    assert models.stt is not None and models.llm is not None and models.turn is not None
    lo = int(max(0.0, turn.start - PREROLL_S) * RATE)
    tail = len(pcm) / RATE - turn.end
    spans = [(s, e - s, "hold") for s, e in turn.holds] + [(turn.end, tail, "eot")]
    rows = []
    for k, (start, length, kind) in enumerate(spans):
        heard = pcm[lo : int((start + SPECULATE_S) * RATE)]
        text = models.stt.transcribe(heard.astype(np.float32) / 32768.0).text
        messages = [ChatMessage("system", system), ChatMessage("user", text)]
        score = models.llm.turn_end(messages)
        assert score is not None, "the chat model gives no end-of-message opinion"
        for t in checkpoints(length, kind):
            p_audio = models.turn.probability(pcm[lo : int((start + t / 1000) * RATE)])
            rows.append(
                {
                    "id": turn.id,
                    "split": turn.split,
                    "variant": turn.variant,
                    "kind": kind,
                    "span": k,
                    "pause_ms": t,
                    "p_audio": _sig(p_audio),
                    "p_end": _sig(score.p_end),
                    "p_stop": _sig(score.p_stop),
                    "text": text,
                    "empty": not text.strip(),
                    "label": int(kind == "eot"),
                }
            )
    return rows


def _crc(value: Any) -> int:
    return zlib.crc32(json.dumps(value, sort_keys=True).encode())


def collect(models: Models, system: str, clips: Iterator[Clip]) -> list[dict[str, Any]]:
    """The rows of every clip, each taken from the cache when its audio and labels are unchanged."""
    rows: list[dict[str, Any]] = []
    for turn, pcm in clips:
        label = {"turn": turn.id, "split": turn.split, "holds": turn.holds, "v": VERSION}
        key = zlib.crc32(pcm.tobytes(), _crc([label, turn.start, turn.end]))
        path = CACHE / "rows" / f"{turn.id}.{key}.json"
        if path.exists():
            rows += json.loads(path.read_text())
            continue
        found = clip_rows(turn, pcm, models, system)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(found))
        rows += found
    return rows


def _human() -> Iterator[Clip]:
    for turn in devset.load():
        yield turn, read_pcm(turn.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-synthetic", action="store_true", help="the dev set only")
    args = parser.parse_args()
    if not devset.SOURCE.exists():
        sys.exit(f"{devset.SOURCE} is missing: apt-get install pocketsphinx-testdata")
    started = time.monotonic()
    settings = config.load({"llm": {"seed": 42}, "vad": {"end_of_turn": "model"}})
    models = load_models(settings, ("stt", "llm"))
    system = settings.llm.system_prompt
    rows = collect(models, system, _human())
    human_s = time.monotonic() - started
    if not args.no_synthetic:
        rows += collect(models, system, synthetic_clips(CACHE))
    OUT.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    spans = {(r["id"], r["span"]) for r in rows}
    empty = sum(r["empty"] for r in rows)
    total_s = time.monotonic() - started
    print(
        f"{len(rows)} rows ({empty} on an empty transcript), {len(spans)} spans, "
        f"dev set {human_s:.0f} s, total {total_s:.0f} s -> {OUT}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
