"""`assistant kiosk` on the private PulseAudio: turns, a lost microphone, SIGTERM, wake words.

The kiosk is a real process on the virtual devices (tests/pulse.py); what it did is read from
its JSON log lines on stderr, and from its /health and /metrics. How fast SIGTERM stops it
and whether its memory stays flat over minutes of turns are measured by bench/kiosk.py.
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from assistant.models.piper import PiperTTS
from tests import media
from tests.kiosk_process import Kiosk
from tests.pulse import PulseServer, needs_pulse

pytestmark = needs_pulse()


@pytest.fixture(scope="module")
def question(tts: PiperTTS, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pcm = np.concatenate([media.speech(tts, "What is the capital of France?"), media.silence(0.2)])
    return media.write_wav(tmp_path_factory.mktemp("kiosk") / "question.wav", pcm)


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
    code, _ = running.terminate()
    assert code == 0, code  # how fast it stops is bench/kiosk.py's
    assert not running.log.text, running.log.text  # every log line is JSON
    assert running.log.seen[-1]["message"] == "stopped"


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
