"""The kiosk as Home Assistant's satellite against the plain kiosk (``make bench-satellite``).

Both are real ``assistant kiosk`` processes on a private PulseAudio (tests/pulse.py), with the
hey_jarvis wake word; Home Assistant's side is aioesphomeapi's APIClient on loopback, with the
API's encryption. In the same run:
- wake latency: from the point of the audio played into the microphone where the detector
  hears "Hey Jarvis" (found offline, 10 ms at a time) to the start request reaching Home
  Assistant, against the plain kiosk's own "wake word" log line (the same audio, the same
  detector: what the satellite adds);
- CPU (share of one core) and RSS idle, and during a run: the satellite streams the question
  to Home Assistant and plays the reply from a URL; the plain kiosk answers the same question
  with its own models (what the satellite saves the device).
Prints a table and JSON (also bench/results/satellite.json).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aioesphomeapi import APIClient, VoiceAssistantEventType  # noqa: E402

from assistant.config import Settings  # noqa: E402
from assistant.models.loaders import store  # noqa: E402
from assistant.models.piper import PiperTTS  # noqa: E402
from assistant.models.wake_word import WakeWordDetector  # noqa: E402
from bench.report import finish  # noqa: E402
from tests import media  # noqa: E402
from tests.kiosk_process import Kiosk  # noqa: E402
from tests.media_server import MediaServer  # noqa: E402
from tests.pulse import PulseServer  # noqa: E402
from tests.serving import free_port  # noqa: E402

KEY = base64.b64encode(bytes(range(32))).decode()
IDLE_S = 10.0
Ev = VoiceAssistantEventType


class Usage:
    """CPU seconds and peak RSS of a process over a window."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak_mb = 0.0
        self._done = threading.Event()
        self._cpu0 = self._cpu()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _cpu(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            self.peak_mb = max(self.peak_mb, self.process.memory_info().rss / 2**20)

    def stop(self) -> dict[str, float]:
        """Cores used over the window, and the peak RSS in it."""
        self._done.set()
        self._thread.join()
        cores = (self._cpu() - self._cpu0) / (time.monotonic() - self._t0)
        rss = self.process.memory_info().rss / 2**20
        return {"cores": cores, "peak_mb": max(self.peak_mb, rss), "rss_mb": rss}


def idle(running: Kiosk) -> dict[str, float]:
    usage = Usage(running.process.pid)
    time.sleep(IDLE_S)
    return usage.stop()


def plain(pulse: PulseServer, wav: Path, wake_s: float, runs: int) -> dict[str, Any]:
    """The plain kiosk: wake latency from its log, and a locally answered turn's cost."""
    running = Kiosk(pulse, "kiosk.wake_word=hey_jarvis", "llm.max_tokens=32")
    running.wait_listening()
    at_rest = idle(running)
    latencies, during = [], []
    for _ in range(runs):
        usage = Usage(running.process.pid)
        started = time.monotonic()
        player = pulse.play_async(wav)
        running.wait_for(lambda e: e["message"] == "wake word", timeout=30)
        latencies.append((time.monotonic() - started - wake_s) * 1000)
        running.turn()
        player.wait()
        during.append(usage.stop())
        time.sleep(1.0)
    running.terminate()
    return summary(latencies, at_rest, during)


def satellite(
    pulse: PulseServer, wav: Path, wake_s: float, runs: int, reply: str
) -> dict[str, Any]:
    """The satellite: wake to start request, and a run's cost (streaming, playing a URL)."""
    port = free_port()
    running = Kiosk(
        pulse,
        "kiosk.wake_word=hey_jarvis",
        "kiosk.home_assistant=true",
        "kiosk.home_assistant_host=127.0.0.1",
        f"kiosk.home_assistant_port={port}",
        f'kiosk.home_assistant_key="{KEY}"',
    )
    running.wait_listening()
    try:
        return asyncio.run(_satellite_runs(running, pulse, wav, wake_s, runs, port, reply))
    finally:
        running.terminate()


async def _satellite_runs(
    running: Kiosk, pulse: PulseServer, wav: Path, wake_s: float, runs: int, port: int, reply: str
) -> dict[str, Any]:
    starts: asyncio.Queue[float] = asyncio.Queue()
    finished: asyncio.Queue[bool] = asyncio.Queue()

    async def start(*_: Any) -> int:
        starts.put_nowait(time.monotonic())
        return 0

    async def ignore(*_: Any) -> None:
        pass

    async def done(message: Any) -> None:
        finished.put_nowait(message.success)

    client = APIClient("127.0.0.1", port, None, noise_psk=KEY, client_info="bench")
    await client.connect(login=True)
    client.subscribe_voice_assistant(
        handle_start=start, handle_stop=ignore, handle_audio=ignore,
        handle_announcement_finished=done,
    )  # fmt: skip
    at_rest = await asyncio.to_thread(idle, running)
    latencies, during = [], []
    for _ in range(runs):
        usage = Usage(running.process.pid)
        began = time.monotonic()
        player = pulse.play_async(wav)
        latencies.append((await asyncio.wait_for(starts.get(), 30) - began - wake_s) * 1000)
        await asyncio.to_thread(player.wait)  # the question streams meanwhile
        for kind in (Ev.VOICE_ASSISTANT_RUN_START, Ev.VOICE_ASSISTANT_STT_VAD_END):
            client.send_voice_assistant_event(kind, None)
        client.send_voice_assistant_event(Ev.VOICE_ASSISTANT_TTS_END, {"url": reply})
        client.send_voice_assistant_event(Ev.VOICE_ASSISTANT_RUN_END, None)
        if not await asyncio.wait_for(finished.get(), 30):
            raise SystemExit("the satellite did not play the reply")
        during.append(usage.stop())
        await asyncio.sleep(1.0)
    await client.disconnect()
    return summary(latencies, at_rest, during)


def detectable_at(pcm: np.ndarray) -> float:
    """Seconds into ``pcm`` at which the detector, fed 10 ms at a time, hears the wake word.

    Latencies count from there: what the path from the microphone to the event adds, the same
    point for both kiosks.
    """
    detector = WakeWordDetector("hey_jarvis")
    try:
        step = media.RATE // 100
        for end in range(step, len(pcm) + 1, step):
            if detector.hear(pcm[end - step : end]):
                return end / media.RATE
    finally:
        detector.close()
    raise SystemExit("the wake word detector does not hear the bench's question")


def summary(
    latencies: list[float], at_rest: dict[str, float], during: list[dict[str, float]]
) -> dict[str, Any]:
    return {
        "wake_ms_p50": statistics.median(latencies),
        "wake_ms": latencies,
        "idle_cores": at_rest["cores"],
        "idle_rss_mb": at_rest["rss_mb"],
        "run_cores": statistics.median(d["cores"] for d in during),
        "run_peak_mb": max(d["peak_mb"] for d in during),
    }


def main() -> None:
    """Measure both, print the table and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each (default 5)")
    args = parser.parse_args()
    tts = PiperTTS(store(Settings()).resolve("tts").path)
    with tempfile.TemporaryDirectory() as tmp, MediaServer(Path(tmp)) as server:
        question = np.concatenate(
            [media.speech(tts, "Hey Jarvis, what time is it?"), media.silence(2.0)]
        )
        wav = media.write_wav(Path(tmp) / "question.wav", question)
        wake_s = detectable_at(question)
        media.write_wav(Path(tmp) / "reply.wav", media.speech(tts, "It is twelve o'clock."))
        pulse = PulseServer(Path(tmp) / "pulse")
        pulse.start()
        try:
            local = plain(pulse, wav, wake_s, args.runs)
            remote = satellite(pulse, wav, wake_s, args.runs, f"{server.url}/reply.wav")
        finally:
            pulse.stop()
    rows = [
        ("wake to start request / wake word logged (ms, p50)", "wake_ms_p50", 0),
        ("CPU idle (cores)", "idle_cores", 3),
        ("RSS idle (MB)", "idle_rss_mb", 0),
        ("CPU during a run (cores)", "run_cores", 3),
        ("RSS peak during runs (MB)", "run_peak_mb", 0),
    ]
    ratios = {key: remote[key] / local[key] for _, key, _ in rows if local[key]}
    print(f"{'figure':<52}{'satellite':>11}{'plain':>9}{'ratio':>8}")
    for label, key, digits in rows:
        ratio = f"{ratios[key]:.2f}x" if key in ratios else "-"
        print(f"{label:<52}{remote[key]:>11.{digits}f}{local[key]:>9.{digits}f}{ratio:>8}")
    results = {"satellite": remote, "plain": local, "ratios": ratios, "runs": args.runs}
    added = remote["wake_ms_p50"] - local["wake_ms_p50"]
    results["pass"] = {"wake_adds_under_100ms": added < 100}
    finish("satellite", results)


if __name__ == "__main__":
    main()
