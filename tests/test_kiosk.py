"""`assistant kiosk` on the private PulseAudio: spoken turns, a lost microphone, SIGTERM, memory.

The kiosk is a real process on the virtual devices (tests/pulse.py); what it did is read from
its JSON log lines on stderr, and from its /health and /metrics.
"""

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from assistant.models.piper import PiperTTS
from tests import media
from tests.conftest import ASSISTANT, REPO
from tests.processes import Json, Lines
from tests.pulse import PulseServer, needs_pulse
from tests.serving import free_port

pytestmark = needs_pulse()
ARTIFACTS = REPO / "tests" / "artifacts"


@pytest.fixture(scope="module")
def question(tts: PiperTTS, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pcm = np.concatenate([media.speech(tts, "What is the capital of France?"), media.silence(0.2)])
    return media.write_wav(tmp_path_factory.mktemp("kiosk") / "question.wav", pcm)


class Kiosk:
    """A running `assistant kiosk` and the JSON lines it logs."""

    def __init__(self, pulse: PulseServer, *settings: str) -> None:
        self.port = free_port()
        sets = [arg for setting in settings for arg in ("--set", setting)]
        self.process = subprocess.Popen(
            [*ASSISTANT, *sets, "kiosk", "--port", str(self.port)],
            cwd=REPO,
            env={**os.environ, **pulse.env, "PATH": "/usr/bin:/bin"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Lines(self.process, self.process.stderr)  # JSON lines, one per record
        self.wait_for = self.log.wait_for

    def wait_listening(self) -> None:
        """Until a conversation runs (and the noise floor has been measured)."""
        self.wait_for(lambda e: e.get("state") == "listening", timeout=120)
        time.sleep(2.0)

    def turn(self, timeout: float = 60) -> Json:
        """The next completed turn's report."""
        entry: Json = self.wait_for(lambda e: e["message"] == "turn", timeout)["turn"]
        return entry

    def rss_kb(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])

    def health(self) -> Json:
        answer: Json = httpx.get(f"{self.url}/health", timeout=10).json()
        return answer

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; the exit code and how long it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(10)
        seconds = time.monotonic() - started
        self.log.join()
        self.log.drain()
        return code, seconds


@pytest.fixture
def kiosk(pulse: PulseServer) -> Iterator[Callable[..., Kiosk]]:
    started: list[Kiosk] = []

    def start(*settings: str) -> Kiosk:
        running = Kiosk(pulse, *settings)
        started.append(running)
        running.wait_listening()
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def test_kiosk_answers_recovers_from_a_lost_microphone_and_stops_on_sigterm(
    pulse: PulseServer, kiosk: Callable[..., Kiosk], question: Path
) -> None:
    running = kiosk("audio.device_retry_s=2")
    health = running.health()
    assert health["ready"] and health["kiosk"]["state"] == "listening"
    pulse.play(question)
    turn = running.turn()
    assert "capital" in turn["transcript"].lower() and turn["reply"].strip()
    assert turn["reply_audio_s"] > 0.5  # it was spoken
    pulse.unload_module(pulse.sink_module("vmic"))  # the microphone is unplugged...
    running.wait_for(lambda e: e.get("state") == "recovering", timeout=30)
    assert running.health()["kiosk"]["last_error"]
    time.sleep(2)
    pulse.add_sink("vmic")  # ...and plugged back in
    running.wait_listening()
    pulse.play(question)
    again = running.turn()
    assert "capital" in again["transcript"].lower() and again["reply"].strip()
    assert running.health()["kiosk"]["restarts"] >= 1
    metrics = httpx.get(f"{running.url}/metrics").text
    assert (
        "assistant_kiosk_restarts_total" in metrics and "assistant_voice_turns_total 2.0" in metrics
    )
    code, seconds = running.terminate()
    assert code == 0 and seconds < 2.0, (code, seconds)
    assert not running.log.text, running.log.text  # every log line is JSON
    assert running.log.seen[-1]["message"] == "stopped"


def test_kiosk_memory_stays_flat_over_five_minutes_of_turns(
    pulse: PulseServer, kiosk: Callable[..., Kiosk], question: Path
) -> None:
    running = kiosk("llm.max_tokens=32")
    for _ in range(3):  # warm-up: every model has answered and its buffers are grown
        pulse.play(question)
        running.turn()
    samples: list[int] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        pulse.play(question)
        running.turn()
        samples.append(running.rss_kb())  # each one at the same point: a turn just ended
    code, _ = running.terminate()
    turns = len(samples)
    # The level after warm-up and at the end, each over five turns: one turn's transient
    # buffers are not what "flat" is about.
    baseline = int(np.median(samples[:5]))
    growth = float(np.median(samples[-5:])) / baseline - 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    record = {"turns": turns, "baseline_kb": baseline, "rss_kb": samples, "growth": growth}
    (ARTIFACTS / "kiosk-memory.json").write_text(json.dumps(record))
    assert turns >= 10 and code == 0
    assert growth <= 0.05, f"RSS grew {growth:.1%} over {turns} turns: {samples}"


def test_kiosk_wakes_only_on_its_wake_word(
    pulse: PulseServer, kiosk: Callable[..., Kiosk], tts: PiperTTS, tmp_path: Path
) -> None:
    def wav(name: str, *parts: np.ndarray) -> Path:
        return media.write_wav(
            tmp_path / f"{name}.wav", np.concatenate([*parts, media.silence(0.3)])
        )

    ask = media.speech(tts, "What is the capital of France?")
    wake = media.speech(tts, "Hey Jarvis.")
    running = kiosk("kiosk.wake_word=hey_jarvis", "kiosk.follow_up_s=3")
    assert running.health()["kiosk"]["wake_word"] == "hey_jarvis"
    pulse.play(wav("question", ask))  # asleep: heard, but no turn opens and nothing is transcribed
    with pytest.raises(AssertionError, match="nothing matched"):
        running.wait_for(lambda e: e["message"] in ("turn", "wake word"), timeout=8)
    pulse.play(wav("together", media.speech(tts, "Hey Jarvis, what is the capital of France?")))
    running.wait_for(lambda e: e["message"] == "wake word" and e["wake_word"] == "hey_jarvis")
    turn = running.turn()
    assert "capital" in turn["transcript"].lower() and turn["reply"].strip()
    time.sleep(4.0)  # the follow-up window closes
    pulse.play(wav("alone", wake, media.silence(1.2), ask))  # the word alone opens the next turn
    running.wait_for(lambda e: e["message"] == "wake word")
    again = running.turn()
    assert "capital" in again["transcript"].lower() and "jarvis" not in again["transcript"].lower()
    assert running.health()["kiosk"]["wakes"] == 2
    metrics = httpx.get(f"{running.url}/metrics").text
    assert "assistant_kiosk_wakes_total 2.0" in metrics
    running.log.drain()
    assert sum(e["message"] == "turn" for e in running.log.seen) == 2  # none while asleep
    code, _ = running.terminate()
    assert code == 0 and not running.log.text, running.log.text
