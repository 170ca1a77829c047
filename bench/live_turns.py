"""Voice to voice through PulseAudio, timed from outside the process: end-of-turn model vs silence.

Run with ``make bench-live`` (or ``python bench/live_turns.py``). A live ``assistant chat`` runs on
a private PulseAudio (tests/pulse.py). Complete spoken questions (Piper), then the held-out human
recordings of the dev set (bench/devset.py, ``clean``; left out with a note when pocketsphinx-
testdata is missing), are played into the virtual microphone one after another, each after the
previous reply has ended. A human recording is cut at its end of speech: its room tone, louder than
the sound threshold below, would otherwise hide where speech ended. Two ``parec`` processes record
the microphone's and the speaker's monitors; the time from the last sound of a question to the first
sound of its reply is read off those two recordings, so it includes everything the process does
(capture, VAD, the end-of-turn decision, STT, LLM, TTS, playback buffers). Once with the defaults
("model"), once without the chat model's opinion in the end-of-turn decision ("audio-rule", the
decision before it) and once with ``vad.end_of_turn = "silence"`` (the behaviour before the model),
each in its own session. The first reply of a session is listed on its own: it waits out the merge
window while the echo path is unknown (see pipeline/stages/vad.py). The human recordings are rows of
their own (no first reply apart: they come later in the session), with how many were answered as
more than one turn ("cut") and how many got no reply ("none"). Prints a table and JSON (also
bench/results/live_turns.json). Target: p50 <= 700 ms.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.live import wait_line  # noqa: E402
from bench.voice import PROMPTS, RATE, pct, speak, write_wav  # noqa: E402
from tests.pulse import PulseServer  # noqa: E402

TARGETS = {"model_v2v_p50_ms": 700.0}
HUMAN = "human"  # the kind, and the rows' suffix, of the dev set's recordings
TURN_WAIT_S = 30.0  # a question with no reply by then got none (its words were not heard)
FRAME = RATE // 100  # 10 ms
SOUND_DBFS = -45.0  # a 10 ms frame at least this loud is sound


class Monitor:
    """A source recorded raw by ``parec``; each sample's arrival time is estimated.

    The stream runs at a steady rate, so sample n arrived at t0 + n / rate, where t0 is the
    earliest (least delayed) estimate over all reads: read jitter drops out.
    """

    def __init__(self, pulse: PulseServer, source: str) -> None:
        cmd = ["parec", f"--device={source}", "--raw", "--format=s16le", f"--rate={RATE}"]
        cmd += ["--channels=1", "--latency-msec=10"]
        self._process = subprocess.Popen(
            cmd, env={**os.environ, **pulse.env}, stdout=subprocess.PIPE
        )
        self._chunks: list[bytes] = []
        self._t0 = float("inf")
        self._samples = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        while chunk := self._process.stdout.read1(4096):  # type: ignore[attr-defined]
            now = time.monotonic()
            with self._lock:
                self._chunks.append(chunk)
                self._samples += len(chunk) // 2
                self._t0 = min(self._t0, now - self._samples / RATE)

    def levels(self) -> tuple[float, np.ndarray]:
        """(arrival time of sample 0, level in dBFS of each 10 ms frame so far)."""
        with self._lock:
            pcm = np.frombuffer(b"".join(self._chunks), np.int16)
            t0 = self._t0
        usable = len(pcm) // FRAME * FRAME
        frames = pcm[:usable].reshape(-1, FRAME).astype(np.float64)
        rms = np.sqrt(np.mean(frames**2, axis=1)) + 1e-9
        return t0, 20 * np.log10(rms / 32768)

    def close(self) -> None:
        """Stop recording."""
        self._process.terminate()
        self._process.wait(5)
        self._thread.join(5)


def _gap_ms(mic: Monitor, speaker: Monitor, after: float) -> float | None:
    """From the question's last sound (played after ``after``) to the reply's first sound."""
    mic_t0, mic_db = mic.levels()
    spk_t0, spk_db = speaker.levels()
    first = max(0, int((after - mic_t0) * 100))
    loud = np.flatnonzero(mic_db[first:] > SOUND_DBFS)
    if not len(loud):
        return None
    speech_end = mic_t0 + (first + loud[-1] + 1) / 100
    start = max(0, int((speech_end - spk_t0) * 100))
    reply = np.flatnonzero(spk_db[start:] > SOUND_DBFS)
    if not len(reply):
        return None
    return float((spk_t0 + (start + reply[0]) / 100 - speech_end) * 1000)


@dataclass
class Played:
    """What the questions of one kind got in a session."""

    gaps: list[float] = field(default_factory=list)
    timings: list[dict[str, Any]] = field(default_factory=list)
    extra_turns: int = 0  # more than one turn for a question: it was cut off
    unanswered: int = 0


class TurnLines:
    """The chat's JSON turn lines, read on a thread so that waiting for one can give up."""

    def __init__(self, chat: subprocess.Popen[str]) -> None:
        self._chat = chat
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._chat.stdout is not None
        for line in self._chat.stdout:
            if '"turn"' in line:
                self._lines.put(line)

    def next(self, timeout: float) -> dict[str, Any] | None:
        """The next turn, or None when none came within ``timeout`` seconds."""
        try:
            return dict(json.loads(self._lines.get(timeout=timeout)))
        except queue.Empty:
            if self._chat.poll() is not None:
                raise RuntimeError("assistant chat ended early") from None
            return None

    def drain(self) -> int:
        """How many more turns came meanwhile (they are dropped)."""
        count = 0
        while not self._lines.empty():
            self._lines.get_nowait()
            count += 1
        return count


# The sessions: the defaults; the end-of-turn model without the chat model's opinion (the
# decision as it was before that); the plain silence timeout (as it was before the model).
MODES = {
    "model": ["vad.end_of_turn=model"],
    "audio-rule": ["vad.end_of_turn=model", "vad.turn_text=false"],
    "silence": ["vad.end_of_turn=silence"],
}


def run_session(
    pulse: PulseServer, clips: list[tuple[str, Path]], mode: str, sets: list[str]
) -> dict[str, Played]:
    """One live chat: per kind of question, the voice-to-voice gaps and the turns' own timings."""
    env = {**os.environ, **pulse.env}
    cmd = [sys.executable, "-m", "assistant", *(a for m in MODES[mode] for a in ("--set", m))]
    for setting in sets:
        cmd += ["--set", setting]
    cmd += ["chat", "--json", "--max-tokens", "24", "--seed", "7"]
    chat = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    mic, speaker = Monitor(pulse, "vmic.monitor"), Monitor(pulse, "vspk.monitor")
    played: dict[str, Played] = {}
    try:
        wait_line(chat, lambda line: "listening on" in line, stream="stderr")
        time.sleep(2.0)  # model warm-up and the gate's calibration
        lines, last = TurnLines(chat), Played()
        for kind, clip in clips:
            last.extra_turns += lines.drain()  # late turns belong to the question before
            last = played.setdefault(kind, Played())
            before = time.monotonic()
            pulse.play(clip)
            turn = lines.next(TURN_WAIT_S)
            if turn is None:
                last.unanswered += 1
                continue
            last.timings.append(turn["timings_ms"])
            time.sleep(0.5)  # the last of the reply leaves the speaker
            gap = _gap_ms(mic, speaker, before)
            if gap is not None:
                last.gaps.append(gap)
        time.sleep(1.0)
        last.extra_turns += lines.drain()
    finally:
        chat.terminate()
        chat.wait(10)
        mic.close()
        speaker.close()
    return played


def summary(played: Played, first_apart: bool = True) -> dict[str, Any]:
    """The first reply apart (the session's first); p50/p95 of the rest and of all; own p50s."""
    gaps, skip = played.gaps, int(first_apart)
    rest, timings = gaps[skip:], played.timings[skip:]
    own = {
        key: pct([t[key] for t in timings if t.get(key) is not None], 0.5)
        for key in ("endpoint", "stt", "llm_first_clause", "tts_first_audio", "voice_to_voice")
        if any(t.get(key) is not None for t in timings)
    }
    return {
        "own_p50_ms": own,
        "first_ms": gaps[0] if gaps and first_apart else None,
        "p50_ms": pct(rest, 0.5) if rest else None,
        "p95_ms": pct(rest, 0.95) if rest else None,
        "p50_all_ms": pct(gaps, 0.5) if gaps else None,
        "replies": len(gaps),
        "gaps_ms": [round(g) for g in gaps],
        "extra_turns": played.extra_turns,
        "unanswered": played.unanswered,
    }


def human_clips(tmp: Path) -> list[Path]:
    """The held-out human recordings, cut at their end of speech, with 0.2 s of silence."""
    from bench import devset
    from bench.devset_audio import read_pcm

    if not devset.SOURCE.exists():
        print(f"{devset.SOURCE} is missing: the human rows are left out", file=sys.stderr)
        return []
    paths = []
    for turn in devset.load():
        if turn.split == "heldout" and turn.variant == "clean":
            pcm = read_pcm(turn.path)[: round(turn.end * RATE)]
            path = tmp / f"{turn.id}.wav"
            write_wav(path, np.concatenate([pcm, np.zeros(RATE // 5, np.int16)]))
            paths.append(path)
    return paths


def main() -> None:
    """Both sessions (or those named on the command line); the table and JSON.

    ``--set key=value`` (repeatable) passes a setting to both sessions, to try one out.
    """
    args, sets = sys.argv[1:], []
    while "--set" in args:
        at = args.index("--set")
        sets.append(args[at + 1])
        args = args[:at] + args[at + 2 :]
    modes = args or list(MODES)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise SystemExit(f"unknown session {unknown[0]!r}; they are {', '.join(MODES)}")
    from assistant import config
    from assistant.models.loaders import load_models

    models = load_models(config.load(), ("tts",))
    with tempfile.TemporaryDirectory() as tmp:
        clips = []
        for i, text in enumerate(PROMPTS[:10]):
            path = Path(tmp) / f"q{i}.wav"
            write_wav(path, np.concatenate([speak(models, text), np.zeros(RATE // 5, np.int16)]))
            clips.append(("piper", path))
        clips += [(HUMAN, path) for path in human_clips(Path(tmp))]
        pulse = PulseServer(Path(tmp) / "pulse")
        pulse.start()
        try:
            results: dict[str, Any] = {"targets": TARGETS, "settings": sets}
            rows = []
            for mode in modes:
                played = run_session(pulse, clips, mode, sets)
                results[mode] = summary(played["piper"])
                rows.append(mode)
                if HUMAN in played:
                    results[f"{mode}/{HUMAN}"] = summary(played[HUMAN], first_apart=False)
                    rows.append(f"{mode}/{HUMAN}")
        finally:
            pulse.stop()
    print_table(results, rows)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "live_turns.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


def print_table(results: dict[str, Any], rows: list[str]) -> None:
    """Outside-the-process figures, then what the process measured itself (p50)."""
    if {"model", "silence"} <= set(rows):
        model, silence = results["model"], results["silence"]
        results["p50_model_vs_silence"] = model["p50_ms"] / silence["p50_ms"]
        results["met"] = {"model_v2v_p50": bool(model["p50_ms"] <= TARGETS["model_v2v_p50_ms"])}
    print(f"{'endpointing':<14}{'first':>8}{'p50':>8}{'p95':>8}{'p50 all':>8}{'cut':>5}{'none':>5}")
    for row in rows:
        r = results[row]
        cells = [r[k] for k in ("first_ms", "p50_ms", "p95_ms", "p50_all_ms")]
        text = "".join(f"{'-' if c is None else f'{c:.0f}':>8}" for c in cells)
        own = ", ".join(f"{k} {v:.0f}" for k, v in r["own_p50_ms"].items())
        print(f"{row:<14}{text}{r['extra_turns']:>5}{r['unanswered']:>5}  own p50s: {own}")
    if "p50_model_vs_silence" in results:
        ratio = results["p50_model_vs_silence"]
        print(f"p50 model / silence: {ratio:.2f}x (target p50 <= 700 ms)")


if __name__ == "__main__":
    main()
