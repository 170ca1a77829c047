"""Recognition while the user speaks, on the human-speech dev set: what it costs and gives.

Run with ``make bench-stream`` or ``python bench/stream_stt.py [--stream-ms 0,400]
[--variants clean,phone,noisy,piper-1.2] [--split tuning]``. Every turn of bench/devset.py
(trimmed to 1 s after its speech) goes through the VAD and STT stages as the voice pipeline
builds them with the default settings (the end-of-turn model included), fed at real-time
pace, since whether a pass keeps up depends on the clock. Each ``stt.stream_ms`` setting runs
in the same process on the same loaded model (one STT thread, as on 2 cores); 0 is streaming
off, whose final is today's whole-utterance decode (= ``stt.stream_final = "full"``).

Per setting and variant: passes run and skipped per second of speech, the skipped share,
process CPU seconds per second of speech (everything the stages do, the end-of-turn model
included: the difference to 0 is what streaming costs), the final WER (on streaming:
``stream_final = "tail"``), and the time from the pause's utterance reaching the STT stage to
its transcript (waiting for a running pass included), p50 and p95. Partials whose confirmed
words are not a prefix of the next partial's and of the final are counted (should be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant import config
from assistant.models.loaders import Models, load_models
from assistant.pipeline import events
from assistant.pipeline.frames import AudioFrame, DataFrame, Frame, UtteranceFrame
from assistant.pipeline.harness import run_stage
from assistant.pipeline.processor import FrameProcessor
from assistant.pipeline.stages.stt import SttStage
from assistant.pipeline.stages.vad import VadStage
from assistant.pipeline.turns import TurnLedger
from assistant.pipeline.voice import turn_taking, vad_config
from bench import devset
from bench.devset_audio import RATE, read_pcm
from bench.report import finish, wer, words
from bench.voice import pct

VARIANTS = ("clean", "phone", "noisy", "piper-1.2")
AFTER_S = 1.0  # audio kept after the end of speech: the end-of-turn decision needs ~0.2 s
CHUNK = RATE // 50  # 20 ms frames, as a microphone delivers them


class _Pace(FrameProcessor):
    """Lets audio through no faster than it was spoken."""

    def __init__(self) -> None:
        super().__init__("pace")
        self._t0: float | None = None

    async def process_frame(self, frame: DataFrame) -> None:
        """Wait until the frame's last sample would have been captured, then pass it on."""
        if isinstance(frame, AudioFrame):
            self._t0 = self._t0 if self._t0 is not None else time.monotonic()
            await asyncio.sleep(max(0.0, self._t0 + frame.end - time.monotonic()))
        await self.push_frame(frame)


class _Unanswered(TurnLedger):
    """No reply is made here: a confirmed turn is never being answered (progress goes on)."""

    def answer(self, turn: int) -> int:
        """Nothing is answered."""
        return turn


class _TimedStt(SttStage):
    """The STT stage, timing each utterance from its arrival to its transcript."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.latency_ms: dict[int, float] = {}

    async def _utterance(self, frame: UtteranceFrame) -> None:
        started = time.monotonic()
        await super()._utterance(frame)
        self.latency_ms[frame.turn_id] = (time.monotonic() - started) * 1000


@dataclass
class Result:
    """One turn at one setting."""

    text: str  # the transcripts of its confirmed turns, joined
    passes: int
    skipped: int
    cpu_s: float
    latencies_ms: list[float]
    unstable: int  # partials whose confirmed words were not kept


async def _run(settings: config.Settings, models: Models, pcm: np.ndarray) -> Result:
    assert models.stt is not None
    vad = VadStage(vad_config(settings), turns=turn_taking(settings, models), ledger=_Unanswered())
    stream = settings.stt.stream_final if settings.stt.stream_ms else None
    stt = _TimedStt(models.stt, vad.turns.board if vad.turns else None, stream)
    frames: list[Frame] = [
        AudioFrame(pcm=pcm[i : i + CHUNK], sample_rate=RATE, pts=i / RATE, wall=time.monotonic())
        for i in range(0, len(pcm), CHUNK)
    ]
    cpu = time.process_time()
    _, seen = await run_stage([_Pace(), vad, stt], frames)
    cpu = time.process_time() - cpu
    finals = [e for e in seen if isinstance(e, events.Transcript)]
    partials = [e for e in seen if isinstance(e, events.PartialTranscript)]
    return Result(
        text=" ".join(e.text for e in finals),
        passes=stt.passes,
        skipped=stt.skipped,
        cpu_s=cpu,
        latencies_ms=[stt.latency_ms[e.turn_id] for e in finals if e.turn_id in stt.latency_ms],
        unstable=_unstable(partials, finals),
    )


def _unstable(partials: list[events.PartialTranscript], finals: list[events.Transcript]) -> int:
    """Partials whose stable words the next partial (same start) or the final did not keep."""
    bad = 0
    for k, p in enumerate(partials):
        later = [q.stable for q in partials[k + 1 :] if q.start == p.start and not q.restarted]
        kept = all(s.startswith(p.stable) for s in later[:1])
        bad += not kept or not any(f.text.startswith(p.stable) for f in finals)
    return bad


@dataclass
class Cell:
    """The results of one setting on one variant."""

    speech_s: float = 0.0
    ref_words: int = 0
    edits: float = 0.0
    results: list[Result] = field(default_factory=list)

    def add(self, turn: devset.Turn, result: Result) -> None:
        """Count one turn."""
        self.speech_s += turn.end - turn.start
        self.ref_words += len(words(turn.text))
        self.edits += wer(turn.text, result.text) * len(words(turn.text))
        self.results.append(result)

    def summary(self) -> dict[str, Any]:
        """Rates per second of speech, the skipped share, WER and latency percentiles."""
        r, speech = self.results, self.speech_s
        passes, skipped = sum(x.passes for x in r), sum(x.skipped for x in r)
        latencies = [ms for x in r for ms in x.latencies_ms]
        return {
            "turns": len(r),
            "speech_s": round(speech, 1),
            "passes_per_s": round(passes / speech, 2),
            "skipped_per_s": round(skipped / speech, 2),
            "skipped_share": round(skipped / (passes + skipped), 3) if passes + skipped else None,
            "cpu_s_per_speech_s": round(sum(x.cpu_s for x in r) / speech, 3),
            "wer": round(self.edits / self.ref_words, 4),
            "stt_after_pause_p50_ms": round(pct(latencies, 0.5)) if latencies else None,
            "stt_after_pause_p95_ms": round(pct(latencies, 0.95)) if latencies else None,
            "unstable_partials": sum(x.unstable for x in r),
        }


def run(stream_ms: list[int], variants: list[str], split: str) -> dict[str, Any]:
    """Every turn at every setting, interleaved by turn so machine load falls on all alike."""
    turns = [t for t in devset.load() if t.split == split and t.variant in variants]
    audio = {t.id: read_pcm(t.path)[: int((t.end + AFTER_S) * RATE)] for t in turns}
    every = {ms: config.load({"stt": {"stream_ms": ms, "threads": 1}}) for ms in stream_ms}
    models = load_models(every[stream_ms[0]], ("stt",))
    cells: dict[tuple[int, str], Cell] = {}
    texts: dict[str, dict[str, str]] = {}
    for turn in turns:
        for ms, settings in every.items():
            result = asyncio.run(_run(settings, models, audio[turn.id]))
            texts.setdefault(turn.id, {"reference": turn.text})[str(ms)] = result.text
            for variant in (turn.variant, "all"):
                cells.setdefault((ms, variant), Cell()).add(turn, result)
        print(f"{turn.id}: done", file=sys.stderr)
    return {
        "split": split,
        "turns": len(turns),
        "results": {f"{ms}/{v}": c.summary() for (ms, v), c in cells.items()},
        "texts": texts,
    }


def print_table(results: dict[str, Any]) -> None:
    """One row per variant and setting."""
    keys = ("passes_per_s", "skipped_share", "cpu_s_per_speech_s", "wer")
    keys += ("stt_after_pause_p50_ms", "stt_after_pause_p95_ms", "unstable_partials")
    head = ("passes/s", "skipped", "cpu s/s", "WER", "p50 ms", "p95 ms", "unstable")
    print(f"{'variant/stream_ms':<22}" + "".join(f"{h:>10}" for h in head))
    rows = sorted(results["results"].items(), key=lambda kv: (kv[0].split("/")[1], kv[0]))
    for key, r in rows:
        ms, variant = key.split("/")
        cells = ["-" if r[k] is None else r[k] for k in keys]
        print(f"{variant + '/' + ms:<22}" + "".join(f"{c!s:>10}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stream-ms", default="0,400", help="settings, comma-separated (0: off)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--split", default="tuning", choices=("tuning", "heldout"))
    args = parser.parse_args()
    if not devset.SOURCE.exists():
        sys.exit(f"{devset.SOURCE} is missing: apt-get install pocketsphinx-testdata")
    stream_ms = [int(x) for x in args.stream_ms.split(",")]
    results = run(stream_ms, args.variants.split(","), args.split)
    print_table(results)
    table, on = results["results"], [ms for ms in stream_ms if ms]
    off = table.get("0/all")
    results["pass"] = {
        f"{ms}_skipped_share_below_half": (table[f"{ms}/all"]["skipped_share"] or 0) < 0.5
        for ms in on
    }
    if off is not None:
        for ms in on:
            worse = table[f"{ms}/all"]["wer"] - off["wer"]
            results["pass"][f"{ms}_tail_wer_within_half_point"] = worse <= 0.005
    finish("stream_stt", results)


if __name__ == "__main__":
    main()
