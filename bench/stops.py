"""Stop benchmark: how fast each way of stopping work stops it, in one run (``make bench-stops``).

The tests assert that a stop happens (what is skipped, counted, left behind); how fast it
happens is measured here, each figure as a ratio to a baseline from the same run:
- an interrupt overtaking ten queued 50 ms frames, against the same interrupt with none queued
  (target <= 1.5x: the queued frames are skipped, not worked off; working them off is ~10x);
- cancelling a real-time pipeline, against one 50 ms frame of work (target <= 4x);
- a new request after a plain ``break`` out of an ``AsyncModel`` stream, against the same
  request on an idle model (target <= 2x: the context is back at once);
- Ctrl+C of `assistant chat --input` while a reply is being written, against Ctrl+C of the
  same command idle after its turn (target <= 1.5x; the README promises a second).
The server's stops are bench/server_stops.py's. Prints a table and JSON (also
bench/results/stops.json).
"""

from __future__ import annotations

import asyncio
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant import AsyncModel, SamplerParams  # noqa: E402
from assistant.catalog import ModelStore  # noqa: E402
from assistant.models.piper import PiperTTS  # noqa: E402
from assistant.pipeline.frames import DataFrame, Frame, InterruptFrame, TextFrame  # noqa: E402
from assistant.pipeline.harness import Recorder, run_stage  # noqa: E402
from assistant.pipeline.pipeline import Pipeline  # noqa: E402
from assistant.pipeline.processor import FrameProcessor  # noqa: E402
from assistant.pipeline.stages.source import PcmSource  # noqa: E402
from bench.report import finish  # noqa: E402
from tests import media  # noqa: E402  (test media helpers: Piper speech, silence)

RUNS = 5
TARGETS = {
    "interrupt_ratio_max": 1.5,
    "cancel_ratio_max": 4.0,
    "after_break_ratio_max": 2.0,
    "ctrl_c_ratio_max": 1.5,
    "ctrl_c_max_s": 1.0,
}


class SlowEcho(FrameProcessor):
    """Takes 50 ms per data frame."""

    async def process_frame(self, frame: DataFrame) -> None:
        """Work 50 ms, then pass the frame on."""
        await asyncio.sleep(0.05)
        await self.push_frame(frame)


def _seconds(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def interrupt() -> dict[str, float]:
    """Ten queued frames and an interrupt, against the interrupt alone (median of RUNS)."""

    def frames(queued: int) -> list[Frame]:
        text = [TextFrame(turn_id=1, text=str(i)) for i in range(queued)]
        return [*text, InterruptFrame(turn_id=1), TextFrame(turn_id=2, text="after")]

    full = [_seconds(lambda: asyncio.run(run_stage(SlowEcho(), frames(10)))) for _ in range(RUNS)]
    bare = [_seconds(lambda: asyncio.run(run_stage(SlowEcho(), frames(0)))) for _ in range(RUNS)]
    queued, alone = statistics.median(full), statistics.median(bare)
    return {"queued_ms": queued * 1000, "alone_ms": alone * 1000, "ratio": queued / alone}


def cancel() -> dict[str, float]:
    """Cancelling a real-time pipeline until wait() returns, against one frame through it."""

    async def once() -> float:
        recorder = Recorder()
        source = PcmSource(media.silence(30.0), 16000, realtime=True)
        pipeline = Pipeline([source, SlowEcho(), recorder])
        await pipeline.start()
        while not recorder.frames:
            await asyncio.sleep(0.005)
        started = time.perf_counter()
        await pipeline.cancel("bench")
        await pipeline.wait()
        return time.perf_counter() - started

    one: list[Frame] = [TextFrame(turn_id=1, text="one")]
    stop = statistics.median(asyncio.run(once()) for _ in range(RUNS))
    frame = statistics.median(
        _seconds(lambda: asyncio.run(run_stage(SlowEcho(), one))) for _ in range(RUNS)
    )
    return {"stop_ms": stop * 1000, "frame_ms": frame * 1000, "ratio": stop / frame}


def after_break(path: Path) -> dict[str, float]:
    """A request right after a plain break out of a stream, against it on an idle model."""

    async def run() -> tuple[list[float], list[float]]:
        model = await AsyncModel.load(path, pool_size=1, n_ctx=512)
        story = model.model.apply_chat_template([("user", "Tell me a long story about a dragon.")])
        hi = model.model.apply_chat_template([("user", "Say hi.")])
        params, idle, broken = SamplerParams.greedy(), [], []
        await model.generate(hi, 8, params)  # warm
        for _ in range(RUNS):
            start = time.perf_counter()
            await model.generate(hi, 8, params)
            idle.append(time.perf_counter() - start)
            async for _piece in model.generate_stream(story, 300, params):
                break  # Python closes the stream a moment later
            start = time.perf_counter()
            await model.generate(hi, 8, params)
            broken.append(time.perf_counter() - start)
        await model.close()
        return idle, broken

    idle, broken = asyncio.run(run())
    after, base = statistics.median(broken), statistics.median(idle)
    return {"after_break_ms": after * 1000, "idle_ms": base * 1000, "ratio": after / base}


def _ctrl_c(wav: Path, wait_for: str, max_tokens: str) -> float:
    """Seconds from SIGINT to exit, sent once stdout shows a line starting with ``wait_for``."""
    cmd = [sys.executable, "-m", "assistant", "chat", "--input", str(wav), "--max-tokens"]
    proc = subprocess.Popen(
        [*cmd, max_tokens], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    while not (line := proc.stdout.readline()).startswith(wait_for):
        if not line:
            raise SystemExit(f"`assistant chat` ended before printing {wait_for!r}")
    start = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    return time.perf_counter() - start


def ctrl_c() -> dict[str, float]:
    """Ctrl+C while the reply is written, against Ctrl+C idle after the turn (median of RUNS)."""
    tts = PiperTTS(ModelStore().resolve("tts").path)
    question = media.speech(tts, "Tell me a very long story about a brave knight and a dragon.")
    pcm = np.concatenate([media.silence(0.3), question, media.silence(20.0)])
    with tempfile.TemporaryDirectory() as folder:
        wav = media.write_wav(Path(folder) / "long.wav", pcm)
        busy = [_ctrl_c(wav, "you:", "400") for _ in range(RUNS)]
        idle = [_ctrl_c(wav, "assistant:", "4") for _ in range(RUNS)]  # the reply's one line
    mid, base = statistics.median(busy), statistics.median(idle)
    return {"mid_turn_ms": mid * 1000, "idle_ms": base * 1000, "ratio": mid / base}


def main() -> None:
    """Measure every stop, print a table and JSON."""
    results: dict[str, Any] = {
        "targets": TARGETS,
        "interrupt": interrupt(),
        "cancel": cancel(),
        "after_break": after_break(ModelStore().resolve("llm").path),
        "ctrl_c": ctrl_c(),
    }
    i, c, b, k = (results[x] for x in ("interrupt", "cancel", "after_break", "ctrl_c"))
    results["pass"] = {
        "interrupt": i["ratio"] <= TARGETS["interrupt_ratio_max"],
        "cancel": c["ratio"] <= TARGETS["cancel_ratio_max"],
        "after_break": b["ratio"] <= TARGETS["after_break_ratio_max"],
        "ctrl_c": k["ratio"] <= TARGETS["ctrl_c_ratio_max"]
        and k["mid_turn_ms"] <= TARGETS["ctrl_c_max_s"] * 1000,
    }
    print(f"{'stop':<44}{'ms':>9}{'baseline ms':>13}{'ratio':>8}")
    rows = [
        ("interrupt over 10 queued frames / none", i["queued_ms"], i["alone_ms"], i["ratio"]),
        ("cancel a real-time pipeline / one frame", c["stop_ms"], c["frame_ms"], c["ratio"]),
        ("request after a plain break / idle", b["after_break_ms"], b["idle_ms"], b["ratio"]),
        ("Ctrl+C mid-reply / idle after the turn", k["mid_turn_ms"], k["idle_ms"], k["ratio"]),
    ]
    for name, ms, base, ratio in rows:
        print(f"{name:<44}{ms:>9.1f}{base:>13.1f}{ratio:>8.2f}")
    finish("stops", results)


if __name__ == "__main__":
    main()
