"""Wyoming side by side: our endpoint against wyoming-faster-whisper and wyoming-piper.

Run with ``make bench-wyoming`` (it puts the two servers Home Assistant users run today in
their own virtual environment, ``.servers-venv``, from the package registry). All three serve on
loopback with the same model files (whisper-tiny.en, Piper en_US-joe-medium), and one client
built on the ``wyoming`` package's classes measures, in the same run, interleaved:
- transcribe: twelve spoken questions sent at once, from ``audio-stop`` to ``transcript``;
- synthesize: three replies of short sentences and three whose first sentence is long, from
  ``synthesize`` to the first audio chunk and to ``audio-stop``.
Prints a table and JSON (also bench/results/wyoming_side.json). Target: no slower, and sooner to
first audio.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wyoming.asr import Transcribe  # noqa: E402
from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.info import Describe  # noqa: E402
from wyoming.tts import Synthesize  # noqa: E402

from assistant import config  # noqa: E402
from assistant.models.loaders import load_tts, store  # noqa: E402
from bench.voice import PROMPTS  # noqa: E402
from tests import media  # noqa: E402
from tests.serving import free_port  # noqa: E402

THEIRS = REPO / ".servers-venv" / "bin" / "python"
# Short sentences, where Piper's own sentence split already starts audio early, and replies
# whose first sentence is long, as chat models write them: there clause streaming (the first
# cut at a comma or after tts.first_chunk_words) is what starts the audio sooner.
REPLIES = {
    "short": [
        "The capital of France is Paris.",
        "A spider has eight legs. Most of them also have eight eyes.",
        "Boil the water first. Then pour it over the tea, and let it steep for three minutes.",
    ],
    "long": [
        "The capital of France is Paris, which is also its largest city and the home of"
        " more than two million people.",
        "Spiders have eight legs and most of them have eight eyes as well, although a few"
        " cave species have lost their sight altogether.",
        "To make a good cup of tea you should boil fresh water and pour it over the leaves"
        " before letting them steep for three to five minutes.",
    ],
}
ROUNDS = 4


def theirs(settings: config.Settings, ports: dict[str, int]) -> dict[str, list[str]]:
    """wyoming-faster-whisper's and wyoming-piper's commands, on ``ports`` under those names.

    With the model files of ``settings``; bench/scale.py starts them too.
    """
    s = store(settings)
    whisper = s.resolve("stt", settings.stt.model).path
    voice = s.resolve("tts", settings.tts.model).path
    return {
        "faster-whisper": [
            str(THEIRS),
            "-m",
            "wyoming_faster_whisper",
            "--uri",
            f"tcp://127.0.0.1:{ports['faster-whisper']}",
            "--model",
            str(whisper),
            "--data-dir",
            str(whisper.parent),
            "--local-files-only",
            "--beam-size",
            "1",
            "--language",
            "en",
            # the compute type ours runs (stt.compute_type): left out, the server computes in
            # the model's own type on a CPU (float32 here), about twice as slow
            "--compute-type",
            settings.stt.compute_type,
            "--cpu-threads",
            str(os.cpu_count() or 1),
        ],
        "piper": [
            str(THEIRS),
            "-m",
            "wyoming_piper",
            "--uri",
            f"tcp://127.0.0.1:{ports['piper']}",
            "--voice",
            voice.stem,
            "--data-dir",
            str(voice.parent),
            "--local-files-only",
        ],
    }


def start_servers(
    settings: config.Settings,
) -> tuple[list[subprocess.Popen[bytes]], dict[str, int]]:
    ports = {name: free_port() for name in ("ours", "faster-whisper", "piper")}
    ours_http = free_port()
    commands = [
        [sys.executable, "-m", "assistant", "serve", "--port", str(ours_http)],
        *theirs(settings, ports).values(),
    ]
    commands[0] += ["--wyoming-port", str(ports["ours"])]
    procs = [
        subprocess.Popen(c, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for c in commands
    ]
    for port in ports.values():
        asyncio.run(wait_ready(port))
    return procs, ports


async def wait_ready(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Describe().event())
                while (event := await client.read_event()) is not None:
                    if event.type == "info":
                        return
        except OSError:
            await asyncio.sleep(0.5)
    raise RuntimeError(f"no Wyoming server on port {port}")


async def transcribe(port: int, pcm: np.ndarray) -> tuple[float, str]:
    fmt = {"rate": 16000, "width": 2, "channels": 1}
    data = pcm.astype("<i2").tobytes()
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(**fmt).event())
        for i in range(0, len(data), 3200):
            await client.write_event(AudioChunk(**fmt, audio=data[i : i + 3200]).event())
        await client.write_event(AudioStop().event())
        sent = time.perf_counter()
        while (event := await client.read_event()) is not None:
            if event.type == "transcript":
                return (time.perf_counter() - sent) * 1000, str(event.data.get("text", ""))
    raise RuntimeError("no transcript")


async def synthesize(port: int, text: str) -> tuple[float, float]:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Synthesize(text=text).event())
        sent, first = time.perf_counter(), None
        while (event := await client.read_event()) is not None:
            if event.type == "audio-chunk" and first is None:
                first = time.perf_counter()
            if event.type == "audio-stop":
                assert first is not None
                return (first - sent) * 1000, (time.perf_counter() - sent) * 1000
    raise RuntimeError("no audio")


def main() -> None:
    settings = config.load()
    tts = load_tts(settings, store(settings))
    questions = [
        np.concatenate([media.silence(0.3), media.speech(tts, p), media.silence(0.3)])
        for p in PROMPTS
    ]
    procs, ports = start_servers(settings)
    stt: dict[str, list[float]] = {"ours": [], "faster-whisper": []}
    first = {(kind, name): [] for kind in REPLIES for name in ("ours", "piper")}
    total: dict[tuple[str, str], list[float]] = {key: [] for key in first}
    try:
        for _ in range(ROUNDS):
            for pcm in questions:
                for name in stt:
                    stt[name].append(asyncio.run(transcribe(ports[name], pcm))[0])
            for kind, texts in REPLIES.items():
                for text in texts:
                    for name in ("ours", "piper"):
                        a, b = asyncio.run(synthesize(ports[name], text))
                        first[kind, name].append(a)
                        total[kind, name].append(b)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
    med = statistics.median
    result: dict[str, Any] = {"transcribe_p50_ms": {k: med(v) for k, v in stt.items()}}
    ratios = {"transcribe": med(stt["ours"]) / med(stt["faster-whisper"])}
    for kind in REPLIES:
        for figure, times in (("first_audio", first), ("total", total)):
            ours, theirs = med(times[kind, "ours"]), med(times[kind, "piper"])
            result[f"synthesize_{kind}_{figure}_p50_ms"] = {"ours": ours, "piper": theirs}
            ratios[f"{kind}_{figure}"] = ours / theirs
    result["ratios_ours_vs_theirs"] = ratios
    print(f"{'figure (p50)':34s} {'ours':>9s} {'theirs':>9s} {'ratio':>7s}")
    print(
        f"{'transcribe':34s} {result['transcribe_p50_ms']['ours']:7.0f}ms "
        f"{result['transcribe_p50_ms']['faster-whisper']:7.0f}ms {ratios['transcribe']:6.2f}x"
    )
    for key, pair in result.items():
        if key.startswith("synthesize_"):
            label = key.removeprefix("synthesize_").removesuffix("_p50_ms").replace("_", " ")
            ours, theirs = pair["ours"], pair["piper"]
            print(
                f"{'synthesize, ' + label:34s} {ours:7.0f}ms {theirs:7.0f}ms {ours / theirs:6.2f}x"
            )
    print(json.dumps(result))
    out = REPO / "bench" / "results" / "wyoming_side.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
