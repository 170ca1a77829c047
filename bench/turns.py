"""Turn-taking benchmark: the end-of-turn model against silence-only endpointing, same run.

Run with ``make bench-voice`` (after the voice bench) or ``python bench/turns.py``. Two sets of
Piper-made recordings go through file mode at real-time pace, once per endpointing mode:
- complete questions, each followed by silence;
- sentences with a pause of 0.5-1.0 s after an unfinished part ("Tell me about the | history
  of Rome.").
For each: cut-offs (a sentence answered as more than one turn), voice-to-voice and endpoint
p50/p95, and how many speculative replies were thrown away (the user went on). Then the
end-of-turn model's CPU time per decision, against bare onnxruntime on ready-made features.
Prints a table and JSON (also bench/results/turns.json).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant import config
from assistant.models.loaders import Models, load_models
from assistant.models.smart_turn import SmartTurn
from assistant.pipeline.conversation import Observers
from assistant.pipeline.events import Event, Merged, Retracted
from assistant.sessions import chat_file
from bench.voice import PROMPTS, RATE, pct, speak, write_wav

PAUSED = [
    ("Tell me about the", "history of Rome.", 0.8),
    ("I would like to know", "the capital of France.", 0.75),
    ("Can you tell me how", "far away the moon is?", 0.6),
    ("What should I cook for", "dinner tonight?", 0.9),
    ("My favourite colour is", "blue, what is yours?", 0.5),
    ("Please explain why the", "sky is blue.", 1.0),
    ("How many legs does a", "spider have?", 0.7),
    ("Give me a tip for", "sleeping better.", 0.85),
]
TARGETS = {"model_v2v_p50_ms": 550.0, "model_v2v_p95_ms": 800.0}


def run_set(settings: config.Settings, models: Models, clips: list[np.ndarray]) -> dict[str, Any]:
    """Each clip as its own conversation; counts, timings and thrown-away replies."""
    cut, v2v, endpoint, thrown, merged = 0, [], [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, clip in enumerate(clips):
            path = Path(tmp) / f"clip{i}.wav"
            silence = np.zeros(RATE // 2, np.int16)
            write_wav(path, np.concatenate([silence, clip, np.zeros(RATE * 3, np.int16)]))
            observers = Observers()
            events: list[Event] = []
            observers.bus.listen(events.append)
            turns = asyncio.run(
                chat_file(settings, path, realtime=True, observers=observers, models=models)
            )
            cut += len(turns) != 1
            thrown += sum(isinstance(e, Retracted) for e in events)
            merged += sum(isinstance(e, Merged) for e in events)
            for turn in turns:
                timings = turn.timings_ms()
                if timings["voice_to_voice"] is not None:
                    v2v.append(timings["voice_to_voice"])
                if timings["endpoint"] is not None:
                    endpoint.append(timings["endpoint"])
    return {
        "clips": len(clips),
        "cut_offs": cut,
        "v2v_p50_ms": pct(v2v, 0.5) if v2v else None,
        "v2v_p95_ms": pct(v2v, 0.95) if v2v else None,
        "endpoint_p50_ms": pct(endpoint, 0.5) if endpoint else None,
        "thrown_away": thrown,
        "merged": merged,
    }


def decision_cpu(model: SmartTurn, clips: list[np.ndarray]) -> dict[str, float]:
    """CPU ms per decision (features + inference) against bare onnxruntime on ready features."""
    ours, bare = [], []
    for clip in clips:
        features = model.features(clip)
        for _ in range(3):
            started = time.process_time()
            model.probability(clip)
            ours.append((time.process_time() - started) * 1000)
            started = time.process_time()
            model.infer(features)
            bare.append((time.process_time() - started) * 1000)
    return {
        "ours_cpu_ms": statistics.median(ours),
        "bare_cpu_ms": statistics.median(bare),
        "ratio": statistics.median(ours) / statistics.median(bare),
    }


def main() -> None:
    base = {"llm": {"seed": 42}}
    model_mode = config.load({**base, "vad": {"end_of_turn": "model"}})
    silence_mode = config.load({**base, "vad": {"end_of_turn": "silence"}})
    models = load_models(model_mode)
    assert models.turn is not None and isinstance(models.turn, SmartTurn)
    gap = lambda s: np.zeros(int(s * RATE), np.int16)  # noqa: E731
    sets = {
        "complete": [speak(models, p) for p in PROMPTS],
        "paused": [
            np.concatenate([speak(models, a), gap(p), speak(models, b)]) for a, b, p in PAUSED
        ],
    }
    results: dict[str, Any] = {}
    for name, clips in sets.items():
        for mode, settings in (("silence", silence_mode), ("model", model_mode)):
            results[f"{name}/{mode}"] = run_set(settings, models, clips)
    cpu = decision_cpu(models.turn, sets["complete"])
    summary = {"sets": results, "end_of_turn_cpu": cpu, "targets": TARGETS}
    complete = results["complete/model"]
    summary["ratios"] = {
        "v2v_p50_model_vs_silence": complete["v2v_p50_ms"]
        / results["complete/silence"]["v2v_p50_ms"],
    }
    summary["pass"] = {
        "v2v_p50": complete["v2v_p50_ms"] <= TARGETS["model_v2v_p50_ms"],
        "v2v_p95": complete["v2v_p95_ms"] <= TARGETS["model_v2v_p95_ms"],
    }
    print_table(summary)
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / "turns.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


def print_table(summary: dict[str, Any]) -> None:
    head = ("set / endpointing", "cut-offs", "v2v p50", "v2v p95", "endpoint", "thrown", "merged")
    print(f"{head[0]:<20}" + "".join(f"{h:>10}" for h in head[1:]))
    for name, r in summary["sets"].items():
        cells = [
            f"{r['cut_offs']}/{r['clips']}",
            *(f"{r[k]:.0f}" if r[k] is not None else "-" for k in ("v2v_p50_ms", "v2v_p95_ms")),
            f"{r['endpoint_p50_ms']:.0f}" if r["endpoint_p50_ms"] is not None else "-",
            str(r["thrown_away"]),
            str(r["merged"]),
        ]
        print(f"{name:<20}" + "".join(f"{c:>10}" for c in cells))
    cpu = summary["end_of_turn_cpu"]
    print(
        f"end-of-turn decision CPU: {cpu['ours_cpu_ms']:.0f} ms (bare onnxruntime "
        f"{cpu['bare_cpu_ms']:.0f} ms, {cpu['ratio']:.2f}x)"
    )
    print(
        "targets:", ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in summary["pass"].items())
    )


if __name__ == "__main__":
    main()
