"""End-of-turn benchmark on the human-speech dev set, scored as livekit/eot-bench scores.

Run with ``make bench-eot`` or ``python bench/eot.py [--recordings N] [--settings a,b]``. Every
turn of bench/devset.py goes through the project's own endpointing, built as file mode builds
it (pipeline/voice.py: the VAD stage with ``TentativeTurns``, which asks Smart Turn and reads
the STT stage's transcript for the open-word and question-mark cues), fed as fast as it is
processed: decisions fall at stream times, so the figures hold no compute time (eot-bench's
"dead air"). The reply stages are left out: they take no part in the decision, only in
whether a confirmed turn may still be merged (its reply heard for less than
``vad.turn_merge_heard_ms``), which here is judged as if no reply had been heard yet.

Scoring: every silence of 100 ms or more inside a turn is a ``hold`` span, and a decision
("the turn is over") inside one is a false cut-off, counted per span (eot-bench's unit) and
per turn (any span or shorter gap fired); "kept" leaves out the cut-offs that the product took
back as the user went on (``vad.turn_merge_ms``: a turn confirmed in a pause and continued
within the merge window is merged, its reply hardly heard); "empty" counts those taken on an
empty transcript (the turn is then over whatever the model says). At the true end, latency is the
time from the end of speech to the decision; ``vad.turn_long_ms`` (2 s) ends a turn whatever
the model says, and the share of turns ending there is "at cap". Settings:
``vad.turn_threshold`` swept, and in the same run the plain silence timeout
(``vad.end_of_turn = "silence"``, ``hangover_ms`` swept) as the baseline. Reported per split
(tuning, heldout) and group (human, telephone, noisy, piper): a table, bench/results/eot.json
and bench/results/eot.png.
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
from assistant.audio.vad import Utterance
from assistant.models.loaders import Models, load_models
from assistant.pipeline import events
from assistant.pipeline.events import EventBus
from assistant.pipeline.frames import AudioFrame, DataFrame, Frame
from assistant.pipeline.harness import run_stage
from assistant.pipeline.processor import ErrorHandler, FrameProcessor
from assistant.pipeline.stages.stt import SttStage
from assistant.pipeline.stages.vad import VadStage
from assistant.pipeline.voice import turn_taking, vad_config
from bench import devset
from bench.devset_audio import RATE, read_pcm
from bench.eot_plot import plot
from bench.report import RESULTS, finish
from bench.voice import pct

SETTINGS: dict[str, dict[str, Any]] = {
    "silence-300": {"end_of_turn": "silence", "hangover_ms": 300},  # the default timeout
    "silence-600": {"end_of_turn": "silence", "hangover_ms": 600},
    "silence-1000": {"end_of_turn": "silence", "hangover_ms": 1000},
    "model-0.3": {"turn_threshold": 0.3},
    "model-0.5": {"turn_threshold": 0.5},  # the default
    "model-0.7": {"turn_threshold": 0.7},
    "model-0.9": {"turn_threshold": 0.9},
}
BASELINE, DEFAULT = "silence-300", "model-0.5"
CHUNK = RATE // 50  # 20 ms, the VAD frame, so each decision falls at a frame's end
RESUME_SLACK_S = 0.1  # a decision this soon after speech resumes was still taken in the pause
MERGE_SLACK_S = 0.3  # a merge this soon after speech resumes took back the turn cut there
TARGETS = {"default_tuning_human_span_cutoffs_max": 0.05}


class _TimedVad(VadStage):
    """The VAD stage, noting the stream time of each decision as it is published."""

    def __init__(self, settings: config.Settings, models: Models) -> None:
        super().__init__(vad_config(settings), barge_in=False, turns=turn_taking(settings, models))
        self.now = 0.0
        # (stream seconds, at the long limit, on an empty transcript)
        self.decisions: list[tuple[float, bool, bool]] = []
        self._empty: set[int] = set()  # turns whose transcript held no words
        self.merges: list[float] = []  # stream seconds of each confirmed turn taken back
        self.retracted = 0
        self._capping = False

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving, listening to the stage's own decisions."""
        await super().start(bus, on_error)
        bus.listen(self._note)

    async def process_frame(self, frame: DataFrame) -> None:
        """Keep the stream time at the end of the frame being segmented."""
        if isinstance(frame, AudioFrame):
            self.now = frame.end
        await super().process_frame(frame)

    async def _utterance(self, event: Utterance) -> None:
        current = self.tentative.current if self.tentative is not None else None
        self._capping = current is not None and current.start == event.start and not event.forced
        await super()._utterance(event)
        self._capping = False

    def _note(self, event: events.Event) -> None:
        decided = events.Confirmed if self.tentative is not None else events.Utterance
        if isinstance(event, events.NoSpeech):
            self._empty.add(event.turn_id)
        if isinstance(event, decided):
            self.decisions.append((self.now, self._capping, event.turn_id in self._empty))
        self.retracted += isinstance(event, events.Retracted)
        if isinstance(event, events.Merged):
            self.merges.append(self.now)


@dataclass
class Score:
    """One turn at one setting."""

    spans: int
    fired: int  # hold spans with a decision in them
    kept: int  # of those, the spans whose turn was not taken back as speech resumed (merge)
    empty: int  # of those, the spans where the decision followed an empty transcript
    cut: bool  # any decision before the end of speech
    latency_ms: float | None  # end of speech to the first decision after it
    capped: bool
    merged: int
    retracted: int


async def decide(settings: config.Settings, models: Models, pcm: np.ndarray) -> _TimedVad:
    """Run one turn through the endpointing stages; the VAD stage holds what it decided."""
    vad = _TimedVad(settings, models)
    stages: list[FrameProcessor] = [vad]
    if vad.turns is not None:
        assert models.stt is not None
        stages.append(SttStage(models.stt, vad.turns.board))
    frames: list[Frame] = [
        AudioFrame(pcm=pcm[i : i + CHUNK], sample_rate=RATE, pts=i / RATE, wall=time.monotonic())
        for i in range(0, len(pcm), CHUNK)
    ]
    await run_stage(stages, frames)
    return vad


def score(turn: devset.Turn, vad: _TimedVad) -> Score:
    """eot-bench's scoring of one turn's decisions."""
    # a decision before the speech began ended a turn of room noise, none of this turn's
    times = [(t, empty) for t, _, empty in vad.decisions if t > turn.start]
    inside = [[e for t, e in times if s < t <= end + RESUME_SLACK_S] for s, end in turn.holds]
    fired = [span for span, found in zip(turn.holds, inside, strict=True) if found]
    merged = [(s, e) for s, e in fired if any(s < t <= e + MERGE_SLACK_S for t in vad.merges)]
    after = [(t, capped) for t, capped, _ in vad.decisions if t >= turn.end]
    return Score(
        spans=len(turn.holds),
        fired=len(fired),
        kept=len(fired) - len(merged),
        empty=sum(bool(found) and all(found) for found in inside),
        cut=any(t < turn.end for t, _ in times),
        latency_ms=(after[0][0] - turn.end) * 1000 if after else None,
        capped=bool(after) and after[0][1],
        merged=len(vad.merges),
        retracted=vad.retracted,
    )


@dataclass
class Cell:
    """The scores of one setting on one split and group."""

    scores: list[Score] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Rates, latency percentiles and counts."""
        s, spans = self.scores, sum(x.spans for x in self.scores)
        latencies = [x.latency_ms for x in s if x.latency_ms is not None]
        return {
            "turns": len(s),
            "hold_spans": spans,
            "span_cutoff_rate": sum(x.fired for x in s) / spans if spans else None,
            "span_kept_cutoff_rate": sum(x.kept for x in s) / spans if spans else None,
            "span_empty_cutoff_rate": sum(x.empty for x in s) / spans if spans else None,
            "turn_cutoff_rate": sum(x.cut for x in s) / len(s),
            "latency_p50_ms": pct(latencies, 0.5) if latencies else None,
            "latency_p95_ms": pct(latencies, 0.95) if latencies else None,
            "at_cap": sum(x.capped for x in s) / len(s),
            "merged": sum(x.merged for x in s),
            "retracted": sum(x.retracted for x in s),
        }


def run(names: list[str], recordings: int) -> dict[str, Any]:
    """Every turn at every setting; summaries by setting, split and group (and "all")."""
    turns = devset.load(recordings)
    audio = {t.id: read_pcm(t.path) for t in turns}
    # the audio's rule: the chat model's opinion comes from the LLM stage, which is not built
    # here; bench/fit_turn_fusion.py scores the fused decision on the same dev set
    rule = {"turn_text": False}
    every = {n: config.load({"llm": {"seed": 42}, "vad": {**rule, **SETTINGS[n]}}) for n in names}
    models = load_models(every[DEFAULT] if DEFAULT in every else config.load(), ("stt",))
    cells: dict[tuple[str, str, str], Cell] = {}
    seconds: dict[str, float] = {}
    for name in names:
        started = time.monotonic()
        for turn in turns:
            result = score(turn, asyncio.run(decide(every[name], models, audio[turn.id])))
            for group in (turn.group, "all"):
                cells.setdefault((name, turn.split, group), Cell()).scores.append(result)
        seconds[name] = round(time.monotonic() - started, 1)
        print(f"{name}: {len(turns)} turns in {seconds[name]:.0f} s", file=sys.stderr)
    table = {f"{n}/{s}/{g}": c.summary() for (n, s, g), c in cells.items()}
    return {
        "turns": len(turns),
        "settings": {n: SETTINGS[n] for n in names},
        "seconds": seconds,
        "results": table,
    }


def compare(results: dict[str, Any]) -> dict[str, Any]:
    """The default setting against the silence baseline, each split and group."""
    table, out = results["results"], {}
    for key, base in table.items():
        name, rest = key.split("/", 1)
        ours = table.get(f"{DEFAULT}/{rest}")
        if name != BASELINE or ours is None:
            continue
        p50 = base["latency_p50_ms"], ours["latency_p50_ms"]
        out[rest] = {
            "latency_p50_ratio": p50[1] / p50[0] if None not in p50 and p50[0] else None,
            "turn_cutoff_delta": ours["turn_cutoff_rate"] - base["turn_cutoff_rate"],
        }
    return out


def print_table(results: dict[str, Any]) -> None:
    """One row per split, group and setting."""
    head: tuple[str, ...] = ("split/group/setting", "turns", "spans", "cut/span", "kept", "empty")
    head += ("cut/turn", "p50 ms", "p95 ms", "at cap")
    print(f"{head[0]:<34}" + "".join(f"{h:>9}" for h in head[1:]))
    keys: tuple[str, ...] = ("span_cutoff_rate", "span_kept_cutoff_rate", "span_empty_cutoff_rate")
    keys += ("turn_cutoff_rate", "latency_p50_ms", "latency_p95_ms", "at_cap")
    forms = (".0%", ".0%", ".0%", ".0%", ".0f", ".0f", ".0%")
    rows = sorted(results["results"].items(), key=lambda kv: [*kv[0].split("/")[1:], kv[0]])
    for key, r in rows:
        name, split, group = key.split("/")
        cells = [r["turns"], r["hold_spans"]]
        cells += [
            "-" if r[k] is None else format(r[k], f) for k, f in zip(keys, forms, strict=True)
        ]
        print(f"{split + '/' + group + '/' + name:<34}" + "".join(f"{c!s:>9}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recordings", type=int, default=0, help="per split (0: all 12)")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated names")
    args = parser.parse_args()
    if not devset.SOURCE.exists():
        sys.exit(f"{devset.SOURCE} is missing: apt-get install pocketsphinx-testdata")
    names = args.settings.split(",")
    results = run(names, args.recordings)
    results["vs_baseline"] = compare(results)
    ours = results["results"].get(f"{DEFAULT}/tuning/human", {}).get("span_cutoff_rate")
    results["pass"] = {
        "default_tuning_human_span_cutoffs": ours is not None
        and ours <= TARGETS["default_tuning_human_span_cutoffs_max"]
    }
    results["targets"] = TARGETS
    print_table(results)
    plot(results, RESULTS / "eot.png")
    finish("eot", results)


if __name__ == "__main__":
    main()
