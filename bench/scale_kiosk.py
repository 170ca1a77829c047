"""A thin kiosk (every model on a server) against the all-local one: its memory and CPU.

Part of ``make bench-scale``. Each kiosk is a real `assistant kiosk` on a private PulseAudio
(tests/pulse.py, tests/kiosk_process.py), one after the other in the same run: the all-local one,
then one whose chat, recognition and synthesis are remote (the loopback servers of
bench/scale_servers.py), keeping on the device only audio I/O, the echo canceller, the VAD and the
end-of-turn model. For each: resident memory and cores while idle (listening to silence), and
during a turn (from the question played into the microphone to the turn's report, after its
reply was played): the CPU over that window and the highest resident memory sampled in it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.kiosk import question
from bench.scale_servers import CpuMeter
from tests.kiosk_process import Kiosk
from tests.pulse import PulseServer

IDLE_S = 5.0  # the idle window, after the kiosk has started listening
SAMPLE_S = 0.05  # resident memory sampled this often during a turn


class PeakRss:
    """The highest resident memory of a process while it runs, sampled on a thread."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            self._stop.wait(SAMPLE_S)


def profile(pulse: PulseServer, wav: Path, settings: list[str], turns: int) -> dict[str, Any]:
    """One kiosk: idle, then ``turns`` questions; memory in MB, CPU in cores."""
    kiosk = Kiosk(pulse, "llm.max_tokens=32", *settings)
    try:
        kiosk.wait_listening()
        process = psutil.Process(kiosk.process.pid)
        meter = CpuMeter({"kiosk": process})
        meter.start()
        time.sleep(IDLE_S)
        idle = meter.stop()["kiosk"]
        idle_rss = process.memory_info().rss
        during: list[float] = []
        peaks: list[int] = []
        for _ in range(turns):
            meter.start()
            with PeakRss(process) as peak:
                pulse.play(wav)
                kiosk.turn(timeout=120)
            during.append(meter.stop()["kiosk"])
            peaks.append(peak.peak)
    finally:
        kiosk.terminate()
    return {
        "idle_rss_mb": idle_rss / 2**20,
        "idle_cpu_cores": idle,
        "turn_peak_rss_mb": max(peaks) / 2**20,
        "turn_cpu_cores": sorted(during)[len(during) // 2],
        "turns": turns,
    }


def compare(tmp: Path, remote: list[str], turns: int) -> dict[str, Any]:
    """The all-local kiosk, then the thin one, on one PulseAudio; the ratios thin / local."""
    pulse = PulseServer(tmp / "pulse")
    pulse.start()
    try:
        wav = question(tmp)
        local = profile(pulse, wav, [], turns)
        thin = profile(pulse, wav, remote, turns)
    finally:
        pulse.stop()
    ratios = {key: thin[key] / local[key] for key in local if key != "turns" and local[key]}
    return {"local": local, "thin": thin, "thin_vs_local": ratios}
