"""Live audio benchmark through a real audio stack (PortAudio -> a private PulseAudio).

Run with ``make bench-live`` (or ``python bench/live.py --minutes 10``). Prints a table and JSON
(also written to bench/results/live.json):
- CPU of capture + noise gate + VAD per second of audio, as % of one core, against the bare
  libraries doing the same job in the same run (a sounddevice callback queue, soxr, webrtcvad);
  also with echo cancellation (WebRTC AEC3) on top. Target <= 3 % of one core.
- Dropped audio over a long capture (default 10 minutes) with the other core kept busy by a
  spinning process: PortAudio input overflows and samples the capture ring overwrote. Target 0.
- End-of-speech detection delay (true end of speech -> utterance decided), p50/p95, from
  spoken utterances played into the microphone during that run.
- Barge-in stop delay (speech onset -> speaker silent), p50/p95, from a live `assistant chat`
  interrupted again and again. Target p50 <= 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import media  # noqa: E402  (test media helpers: Piper speech, silence)
from tests.pulse import PulseServer  # noqa: E402

TARGETS = {"cpu_percent_max": 3.0, "dropped_max": 0, "barge_in_p50_ms_max": 150.0}
CPU_SECONDS = 30.0
BLOCK_MS = [20]  # capture block; set from --block-ms


def pct(values: list[float], q: float) -> float | None:
    """Percentile ``q`` of ``values`` (None when empty)."""
    return float(np.percentile(values, q)) if values else None


def speech_clips(folder: Path) -> dict[str, Path]:
    """The spoken test material, made with Piper."""
    from assistant import config
    from assistant.models.loaders import load_models

    tts = load_models(config.load(), ("tts",)).tts
    assert tts is not None
    texts = {
        "talk": "Turn on the kitchen lights and set a timer for ten minutes please.",
        "story": "Tell me a long story about a brave knight and a dragon.",
        "another": "Now tell me a different long story about a clever fox.",
    }
    out = {}
    for name, text in texts.items():
        pcm = np.concatenate([media.speech(tts, text), media.silence(0.3)])
        out[name] = media.write_wav(folder / f"{name}.wav", pcm)
    pause = np.concatenate([media.silence(1.5), media.speech(tts, texts["talk"])])
    out["talk_loop"] = media.write_wav(folder / "talk_loop.wav", pause)
    return out


def _noop_stream_cpu(seconds: float) -> float:
    """CPU seconds of a PortAudio input stream whose callback does nothing: the stack's floor."""
    import sounddevice as sd

    block = 16000 * BLOCK_MS[0] // 1000
    start_cpu = time.process_time()
    with sd.InputStream(
        samplerate=16000, channels=1, dtype="int16", blocksize=block, callback=lambda *_: None
    ):
        time.sleep(seconds)
    return time.process_time() - start_cpu


async def _bare_cpu(seconds: float) -> float:
    """CPU seconds of sounddevice + soxr + webrtcvad doing capture and VAD, no more."""
    import sounddevice as sd
    import soxr
    import webrtcvad

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[np.ndarray] = asyncio.Queue()
    vad = webrtcvad.Vad(2)
    rate = 16000  # as ours: the rate the VAD takes, when the device offers it
    resampler = soxr.ResampleStream(rate, 16000, 1, dtype="int16")

    def callback(data: Any, *_: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, data[:, 0].copy())

    start_cpu, end = time.process_time(), time.monotonic() + seconds
    pending = np.zeros(0, np.int16)
    block = rate * BLOCK_MS[0] // 1000
    with sd.InputStream(
        samplerate=rate, channels=1, dtype="int16", blocksize=block, callback=callback
    ):
        while time.monotonic() < end:
            pending = np.concatenate([pending, resampler.resample_chunk(await queue.get())])
            while len(pending) >= 320:
                vad.is_speech(pending[:320].tobytes(), 16000)
                pending = pending[320:]
    return time.process_time() - start_cpu


async def _ours(seconds: float, echo: bool) -> dict[str, Any]:
    """Capture -> front end -> VAD for ``seconds``; CPU, losses and endpoint delays."""
    from assistant import config
    from assistant.pipeline.events import Event, Utterance
    from assistant.pipeline.pipeline import Pipeline
    from assistant.pipeline.stages.frontend import FrontEndStage
    from assistant.pipeline.stages.live import MicSource, SpeakerSink
    from assistant.pipeline.stages.vad import VadStage
    from assistant.pipeline.voice import frontend_config, vad_config

    settings = config.load()
    mic = MicSource("", 16000, block_ms=BLOCK_MS[0])
    speaker = SpeakerSink("", 24000) if echo else None
    stages: list[Any] = [
        mic,
        FrontEndStage(frontend_config(settings), speaker.player if speaker else None),
        VadStage(vad_config(settings)),
    ]
    if speaker is not None:
        stages.append(speaker)
    pipeline = Pipeline(stages)
    delays: list[float] = []

    def on_event(event: Event) -> None:
        if isinstance(event, Utterance):
            delays.append((event.time - event.speech_end_wall) * 1000)

    pipeline.bus.listen(on_event)
    start_cpu, started = time.process_time(), time.monotonic()
    await pipeline.start()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - start_cpu
    elapsed = time.monotonic() - started
    await pipeline.cancel("done")
    await pipeline.wait()
    return {"cpu_s": cpu, "elapsed_s": elapsed, "endpoint_ms": delays, "mic": mic}


def measure_cpu(pulse: PulseServer, clips: dict[str, Path]) -> dict[str, float]:
    """Percent of one core per second of audio: bare libraries vs ours (without and with AEC)."""
    player = _loop_into_mic(pulse, clips["talk_loop"])
    try:
        floor = _noop_stream_cpu(CPU_SECONDS) / CPU_SECONDS * 100
        bare = asyncio.run(_bare_cpu(CPU_SECONDS)) / CPU_SECONDS * 100
        ours = asyncio.run(_ours(CPU_SECONDS, echo=False))
        ours_aec = asyncio.run(_ours(CPU_SECONDS, echo=True))
    finally:
        player.kill()
    result = {
        "idle_stream_cpu_percent": round(floor, 2),
        "bare_cpu_percent": round(bare, 2),
        "cpu_percent": round(ours["cpu_s"] / ours["elapsed_s"] * 100, 2),
        "cpu_percent_with_aec": round(ours_aec["cpu_s"] / ours_aec["elapsed_s"] * 100, 2),
    }
    result["cpu_ratio"] = round(result["cpu_percent"] / max(bare, 1e-6), 2)
    return result


def measure_drops(pulse: PulseServer, clips: dict[str, Path], minutes: float) -> dict[str, Any]:
    """A long capture with the other core spinning: dropped audio and endpoint delays."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    player = _loop_into_mic(pulse, clips["talk_loop"])
    try:
        run = asyncio.run(_ours(minutes * 60, echo=False))
    finally:
        player.kill()
        spinner.kill()
        spinner.wait()
    stats = run["mic"].stats
    return {
        "minutes": minutes,
        "input_overflows": stats.input_overflows,
        "ring_overflows": stats.ring_overflows,
        "lost_samples": stats.lost_samples,
        "endpoints": len(run["endpoint_ms"]),
        "endpoint_p50_ms": pct(run["endpoint_ms"], 50),
        "endpoint_p95_ms": pct(run["endpoint_ms"], 95),
    }


def measure_barge_in(pulse: PulseServer, clips: dict[str, Path], count: int) -> dict[str, Any]:
    """A live chat interrupted ``count`` times: speech onset -> speaker silent."""
    env = {**os.environ, **pulse.env}
    cmd = [sys.executable, "-m", "assistant", "chat", "--json", "--max-tokens", "200"]
    chat = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    delays: list[float] = []
    try:
        wait_line(chat, lambda line: "listening on" in line, stream="stderr")
        time.sleep(2.0)
        pulse.play(clips["story"])
        for i in range(count):
            wait_line(chat, lambda line: '"speaking"' in line)
            time.sleep(2.0)
            pulse.play(clips["another" if i % 2 == 0 else "story"])
            turn = json.loads(wait_line(chat, lambda line: '"turn"' in line))
            if turn["interrupted"] and turn["timings_ms"]["barge_in_stop"] is not None:
                delays.append(turn["timings_ms"]["barge_in_stop"])
    finally:
        chat.terminate()
        chat.wait(10)
    return {
        "barge_ins": len(delays),
        "barge_in_p50_ms": pct(delays, 50),
        "barge_in_p95_ms": pct(delays, 95),
        "barge_in_max_ms": max(delays) if delays else None,
    }


def wait_line(process: subprocess.Popen[str], match: Any, stream: str = "stdout") -> str:
    """The next line of the process's ``stream`` that ``match`` accepts (within 120 s)."""
    source = process.stdout if stream == "stdout" else process.stderr
    assert source is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = source.readline()
        if not line:
            raise RuntimeError("assistant chat ended early")
        if match(line):
            return line
    raise TimeoutError("no matching output within 120 s")


def _loop_into_mic(pulse: PulseServer, wav: Path) -> subprocess.Popen[bytes]:
    """Play ``wav`` into the microphone over and over (speech every few seconds)."""
    script = f'while true; do paplay --device=vmic "{wav}"; done'
    return subprocess.Popen(["bash", "-c", script], env={**os.environ, **pulse.env})


def main() -> None:
    """Run every measurement and print the table and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the drop test")
    parser.add_argument("--barge-ins", type=int, default=8)
    parser.add_argument("--block-ms", type=int, default=20, choices=[10, 20, 30, 40])
    parser.add_argument("--cpu-only", action="store_true", help="only the CPU figures")
    args = parser.parse_args()
    BLOCK_MS[0] = args.block_ms
    with tempfile.TemporaryDirectory() as tmp:
        pulse = PulseServer(Path(tmp) / "pulse")
        pulse.start()
        os.environ.update(pulse.env)  # before PortAudio is first loaded
        try:
            clips = speech_clips(Path(tmp))
            results: dict[str, Any] = {"targets": TARGETS, "block_ms": args.block_ms}
            results |= measure_cpu(pulse, clips)
            if not args.cpu_only:
                results |= measure_drops(pulse, clips, args.minutes)
                results |= measure_barge_in(pulse, clips, args.barge_ins)
        finally:
            subprocess.run(["pkill", "-f", "paplay --device=vmic"], check=False)
            pulse.stop()
    print_table(results)
    if args.cpu_only:
        return
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "live.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


def print_table(r: dict[str, Any]) -> None:
    """The human-readable summary."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} ms"

    rows = [
        (
            "capture+gate+VAD CPU (% of one core)",
            f"{r['cpu_percent']:.2f} %",
            f"bare {r['bare_cpu_percent']:.2f} % ({r['cpu_ratio']:.2f}x)",
            "<= 3 %",
        ),
        ("  with echo cancellation", f"{r['cpu_percent_with_aec']:.2f} %", "", ""),
        (
            "  an idle PortAudio stream (the floor)",
            f"{r['idle_stream_cpu_percent']:.2f} %",
            f"{r['block_ms']} ms blocks",
            "",
        ),
    ]
    if "minutes" in r:
        rows += [
            (
                f"dropped audio, {r['minutes']:g} min, other core busy",
                f"{r['input_overflows'] + r['ring_overflows']} events",
                f"{r['lost_samples']} samples lost",
                "0",
            ),
            (
                "end-of-speech detection delay p50 / p95",
                f"{ms(r['endpoint_p50_ms'])} / {ms(r['endpoint_p95_ms'])}",
                f"{r['endpoints']} utterances",
                "",
            ),
            (
                "barge-in stop delay p50 / p95",
                f"{ms(r['barge_in_p50_ms'])} / {ms(r['barge_in_p95_ms'])}",
                f"{r['barge_ins']} barge-ins, max {ms(r['barge_in_max_ms'])}",
                "p50 <= 150 ms",
            ),
        ]

    width = max(len(row[0]) for row in rows)
    for name, value, note, target in rows:
        print(f"{name:<{width}}  {value:>16}  {note:<34} {target}")


if __name__ == "__main__":
    main()
