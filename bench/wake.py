"""Wake word benchmark: the microWakeWord gate against the transcript-phrase mode, same run.

Run with ``make bench-wake`` (or ``python bench/wake.py``). Piper speaks "Hey Jarvis" at the
start of five requests, at three speeds, clean and with fan noise (30 renditions), and over an
hour of audio without it (bench/wake_corpus.py: 40 minutes of talk, 20 of noise and silence;
``WAKE_BENCH_MINUTES`` scales it), and 48 near misses ("Hey Travis", "Say Jarvis slowly"...),
each its own clip. Each clip is judged both ways:
- wake word: the hey_jarvis model over the clip's 16 kHz audio, as the kiosk's gate hears it;
- phrase: Whisper transcribes the clip and the phrase "hey jarvis" is looked for in the
  words, as `--wake-phrase` does for every utterance.
Reports the detection rate, false wakes per hour of non-wake audio, and CPU as a share of one
core per second of audio. Prints a table and JSON (also bench/results/wake.json).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant import config  # noqa: E402
from assistant.kiosk.wake import WakeStage  # noqa: E402
from assistant.models.interfaces import Pcm16  # noqa: E402
from assistant.models.loaders import load_stt, store  # noqa: E402
from assistant.models.piper import PiperTTS  # noqa: E402
from assistant.models.wake_word import WakeWordDetector  # noqa: E402
from bench.wake_corpus import near_misses, noises, talk  # noqa: E402
from tests import media  # noqa: E402

WAKE = "hey_jarvis"
REQUESTS = [
    "Hey Jarvis.",
    "Hey Jarvis, what time is it?",
    "Hey Jarvis, turn on the kitchen lights.",
    "Hey Jarvis, set a timer for five minutes.",
    "Hey Jarvis, what is the weather like today?",
]
SPEEDS = (0.85, 1.0, 1.2)  # Piper length scales: faster, normal, slower
MINUTES = float(os.environ.get("WAKE_BENCH_MINUTES", "60"))  # of audio without the wake word
TARGETS = {"detection_rate_min": 0.9, "false_wakes_per_hour_max": 1.0}


def voices(settings: config.Settings) -> dict[float, PiperTTS]:
    path = store(settings).resolve("tts", settings.tts.model).path
    return {scale: PiperTTS(path, length_scale=scale) for scale in SPEEDS}


def clips(
    settings: config.Settings,
) -> tuple[list[Pcm16], list[Pcm16], list[tuple[str, Pcm16]]]:
    """Wake word renditions, audio without the wake word, and near misses."""
    tts = voices(settings)
    pad = media.silence(0.5)
    wake, other = [], []
    for voice in tts.values():
        for i, text in enumerate(REQUESTS):
            speech = np.concatenate([pad, media.speech(voice, text), pad])
            wake.append(speech)
            fan = media.fan_noise(len(speech) / media.RATE + 0.01, -40.0, seed=i)[: len(speech)]
            wake.append(np.clip(speech.astype(np.int32) + fan, -32768, 32767).astype(np.int16))
    two = [v for scale, v in tts.items() if scale != 1.0]
    other += talk(two, MINUTES * 2 / 3)
    other += noises(MINUTES / 3)
    return wake, other, near_misses(two)


def by_wake_word(pcm: Pcm16, detector: WakeWordDetector) -> int:
    """How many times the wake word is detected in ``pcm`` (the detector resets after each)."""
    detector.reset()
    return sum(detector.hear(pcm[i : i + 320]) for i in range(0, len(pcm), 320))


def by_phrase(pcm: Pcm16, stt: Any, stage: WakeStage) -> int:
    """How many times the phrase is in the words Whisper hears in ``pcm``."""
    text = stt.transcribe(pcm.astype(np.float32) / 32768.0).text
    count = 0
    while (rest := stage.strip(text)) is not None:
        count, text = count + 1, rest
    return count


def judge(name: str, clips_: list[Pcm16], check: Any, every: bool) -> dict[str, float]:
    """Clips with a wake (``every``: all wakes, for minute-long stretches), and CPU time."""
    start = time.process_time()
    hits = sum(check(pcm) if every else min(1, check(pcm)) for pcm in clips_)
    cpu = time.process_time() - start
    seconds = sum(len(c) for c in clips_) / media.RATE
    return {"hits": hits, "clips": len(clips_), "seconds": seconds, "cpu_s": cpu, "name": name}


def main() -> None:
    settings = config.load()
    wake, other, near = clips(settings)
    detector = WakeWordDetector(WAKE)
    stt = load_stt(settings, store(settings))
    stage = WakeStage("hey jarvis")
    results: dict[str, Any] = {}
    for mode, check in (
        ("wake word", lambda pcm: by_wake_word(pcm, detector)),
        ("phrase", lambda pcm: by_phrase(pcm, stt, stage)),
    ):
        found, false = judge(mode, wake, check, False), judge(mode, other, check, True)
        seconds = found["seconds"] + false["seconds"]
        woken = [text for text, pcm in near if check(pcm)]
        results[mode] = {
            "detection_rate": found["hits"] / found["clips"],
            "renditions": found["clips"],
            "false_wakes": false["hits"],
            "non_wake_hours": false["seconds"] / 3600,
            "false_wakes_per_hour": false["hits"] / (false["seconds"] / 3600),
            "cpu_percent": (found["cpu_s"] + false["cpu_s"]) / seconds * 100,
            "near_misses_woken": len(woken),
            "near_miss_clips": len(near),
            "near_miss_phrases_that_woke": sorted(set(woken)),
        }
    ours, phrase = results["wake word"], results["phrase"]
    summary = {
        "modes": results,
        "cpu_ratio_wake_word_vs_phrase": ours["cpu_percent"] / phrase["cpu_percent"],
        "targets": TARGETS,
        "met": {
            "detection_rate": ours["detection_rate"] >= TARGETS["detection_rate_min"],
            "false_wakes": ours["false_wakes_per_hour"] <= TARGETS["false_wakes_per_hour_max"],
        },
    }
    header = f"{'mode':10s} {'detected':>10s} {'false wakes':>12s} {'per hour':>9s}"
    print(f"{header} {'near misses':>12s} {'CPU':>8s}")
    for mode, r in results.items():
        detected = f"{r['detection_rate'] * 100:.0f}% of {r['renditions']}"
        near = f"{r['near_misses_woken']} of {r['near_miss_clips']}"
        print(
            f"{mode:10s} {detected:>10s} {r['false_wakes']:>12d} "
            f"{r['false_wakes_per_hour']:>9.1f} {near:>12s} {r['cpu_percent']:>7.2f}%"
        )
        print(f"{'':10s} near misses that woke it: {', '.join(r['near_miss_phrases_that_woke'])}")
    print(f"CPU, wake word / phrase: {summary['cpu_ratio_wake_word_vs_phrase']:.3f}x")
    print(json.dumps(summary))
    out = REPO / "bench" / "results" / "wake.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
