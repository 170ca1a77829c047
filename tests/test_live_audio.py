"""Live chat through a real audio stack: PortAudio -> PulseAudio null sinks (see tests/pulse.py).

Speech made by Piper is played into the virtual microphone with paplay; the reply is recorded
from the virtual speaker's monitor and transcribed. `assistant chat --json` runs as a real
subprocess and reports state changes and turns as JSON lines.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.convert.audio_decode import decode_audio
from assistant.models.piper import PiperTTS
from assistant.models.whisper import WhisperSTT
from tests import media
from tests.conftest import ASSISTANT, REPO
from tests.processes import Json, Lines
from tests.pulse import PulseServer, needs_pulse

pytestmark = needs_pulse()


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


def spoken(tts: PiperTTS, folder: Path, name: str, text: str, lead_s: float = 0.0) -> Path:
    pcm = np.concatenate([media.silence(lead_s), media.speech(tts, text), media.silence(0.2)])
    return media.write_wav(folder / f"{name}.wav", pcm)


class LiveChat:
    """`assistant chat --json` on the virtual devices, its output read as it comes."""

    def __init__(self, pulse: PulseServer, *args: str, settings: tuple[str, ...] = ()) -> None:
        env = {**pulse.env, "PATH": "/usr/bin:/bin"}
        sets = [arg for setting in settings for arg in ("--set", setting)]
        self.process = subprocess.Popen(
            [*ASSISTANT, *sets, "chat", "--json", "--seed", "7", *args],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out = Lines(self.process, self.process.stdout)  # --json: one object per line
        self.err = Lines(self.process, self.process.stderr)
        self.wait_for = self.out.wait_for
        self.drain = self.out.drain

    @property
    def stderr(self) -> list[str]:
        """The lines printed on stderr so far."""
        return self.err.text

    @property
    def seen(self) -> list[Json]:
        """The output objects read so far."""
        return self.out.seen

    def wait_ready(self) -> None:
        """Until the devices are open and the noise floor has been measured."""
        deadline = time.monotonic() + 90
        while not any("listening on" in line for line in self.stderr):
            assert self.process.poll() is None, f"chat exited early: {self.stderr}"
            assert time.monotonic() < deadline, f"chat never got ready: {self.stderr}"
            time.sleep(0.1)
        time.sleep(2.0)  # model warm-up and the gate's calibration

    def exit_code(self, timeout: float) -> int:
        """Wait for the process to end on its own, and for its last lines to be read."""
        code = self.process.wait(timeout)
        self.out.join()
        self.err.join()
        return code

    def stop(self) -> int:
        """Ctrl+C; the exit code (it must come within a few seconds)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("chat did not stop within 10 s of Ctrl+C") from None


@pytest.fixture
def chat(pulse: PulseServer) -> Iterator[Callable[..., LiveChat]]:
    started: list[LiveChat] = []

    def start(*args: str, settings: tuple[str, ...] = ()) -> LiveChat:
        live = LiveChat(pulse, *args, settings=settings)
        started.append(live)
        live.wait_ready()
        return live

    yield start
    for live in started:
        if live.process.poll() is None:
            live.process.kill()
            live.process.wait()


def is_turn(item: Json) -> bool:
    return "turn" in item


def words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower()).split()


def test_spoken_question_gets_a_spoken_reply_and_keeps_the_first_word(
    pulse: PulseServer,
    chat: Callable[..., LiveChat],
    tts: PiperTTS,
    stt: WhisperSTT,
    speech_dir: Path,
    tmp_path: Path,
) -> None:
    # The question starts with its key word right after silence: the pre-roll must keep it.
    # One sentence: a pause between two could end the utterance, and the second sentence would
    # then (rightly) barge in on the answer to the first.
    question = spoken(tts, speech_dir, "london", "London is a big city in which country?")
    live = chat()
    with pulse.record(tmp_path / "speaker.wav") as recording:
        pulse.play(question)
        turn = live.wait_for(is_turn)  # printed once the reply has been played
    assert live.stop() in (0, 130)
    assert words(turn["transcript"])[0] == "london"
    assert turn["reply"] and not turn["interrupted"]
    reply_audio = decode_audio(recording, 16000)
    assert media.level_dbfs(reply_audio) > -45
    heard = stt.transcribe(reply_audio.astype(np.float32) / 32768).text
    assert len(words(heard)) >= 2, heard


def test_fan_noise_alone_starts_no_turn(
    pulse: PulseServer, chat: Callable[..., LiveChat], speech_dir: Path
) -> None:
    fan = media.write_wav(speech_dir / "fan.wav", media.fan_noise(14.0, dbfs=-30))
    player = pulse.play_async(fan)  # the fan is on before the assistant starts, as in a room
    try:
        live = chat()
        player.wait(20)
        time.sleep(1.0)
    finally:
        player.kill()
    out = live.drain()
    assert live.stop() in (0, 130)
    assert [item for item in out if is_turn(item) or item.get("state") == "thinking"] == []


def test_barge_in_stops_playback_and_keeps_what_was_heard(
    pulse: PulseServer, chat: Callable[..., LiveChat], tts: PiperTTS, speech_dir: Path
) -> None:
    question = spoken(tts, speech_dir, "story", "Tell me a long story about a brave knight.")
    stop = spoken(tts, speech_dir, "stop", "Wait, stop please.")
    live = chat("--max-tokens", "160")
    pulse.play(question)
    live.wait_for(lambda item: item.get("state") == "speaking")
    time.sleep(2.0)  # let some of the reply play
    pulse.play(stop)
    turn = live.wait_for(is_turn)
    assert turn["interrupted"] is True, (turn["reply_audio_s"], turn["timings_ms"], live.seen)
    heard, reply = words(turn["heard"]), words(turn["reply"])
    assert 0 < len(heard) < len(reply) and reply[: len(heard)] == heard
    # the speaker went silent (how fast, p50 <= 150 ms, is bench/live.py's barge-in figure)
    assert turn["timings_ms"]["barge_in_stop"] is not None, turn["timings_ms"]
    live.wait_for(is_turn, timeout=60)  # the interruption itself is answered as a new turn
    assert live.stop() in (0, 130)


def test_own_voice_echoed_into_the_microphone_does_not_barge_in(
    pulse: PulseServer, chat: Callable[..., LiveChat], tts: PiperTTS, speech_dir: Path
) -> None:
    question = spoken(tts, speech_dir, "sky", "Why is the sky blue? Explain in detail.")
    loop = pulse.load_module(
        "module-loopback", "source=vspk.monitor", "sink=vmic", "latency_msec=100"
    )
    try:
        live = chat("--max-tokens", "96")
        pulse.play(question)
        turn = live.wait_for(is_turn, timeout=90)
        time.sleep(3.0)  # anything the echo started would show by now
        out = live.drain()
    finally:
        pulse.unload_module(loop)
    assert live.stop() in (0, 130)
    assert turn["interrupted"] is False, (turn["heard"], turn["timings_ms"])
    assert turn["reply_audio_s"] > 2.0
    # one turn (its id need not be 1: the two sentences may first be two turns, merged)
    assert [item["turn"] for item in out if is_turn(item)] == [turn["turn"]]


def test_vanished_microphone_comes_back_or_fails_with_one_line(
    pulse: PulseServer, chat: Callable[..., LiveChat], tts: PiperTTS, speech_dir: Path
) -> None:
    question = spoken(tts, speech_dir, "hello", "Hello, can you hear me?")
    live = chat(settings=("audio.device_retry_s=4",))
    module = pulse.sink_module("vmic")
    pulse.unload_module(module)
    time.sleep(1.5)
    pulse.add_sink("vmic")
    time.sleep(3.0)
    if live.process.poll() is None:  # recovered: it still hears and answers
        pulse.play(question)
        turn = live.wait_for(is_turn)
        assert turn["transcript"]
        assert live.stop() in (0, 130)
        assert any("back" in line for line in live.stderr), live.stderr
    else:
        code = live.exit_code(5)
        errors = [line for line in live.stderr if line.startswith("error:")]
        assert code == 2 and len(errors) == 1, live.stderr
        assert "Traceback" not in "\n".join(live.stderr)


def test_vanished_speaker_that_stays_away_fails_with_one_line(
    pulse: PulseServer, chat: Callable[..., LiveChat], tts: PiperTTS, speech_dir: Path
) -> None:
    question = spoken(tts, speech_dir, "count", "Count from one to twenty slowly.")
    live = chat(settings=("audio.device_retry_s=2",))
    module = pulse.sink_module("vspk")
    try:
        pulse.play(question)
        live.wait_for(lambda item: item.get("state") == "speaking")
        pulse.unload_module(module)
        code = live.exit_code(30)
    finally:
        pulse.add_sink("vspk")
    errors = [line for line in live.stderr if line.startswith("error:")]
    assert code == 2 and len(errors) == 1, live.stderr
    assert "speaker" in errors[0] and "Traceback" not in "\n".join(live.stderr)


def test_a_pause_inside_a_sentence_is_one_turn_live(
    pulse: PulseServer, chat: Callable[..., LiveChat], tts: PiperTTS, speech_dir: Path
) -> None:
    # 0.75 s after an unfinished part, through the real microphone path (end-of-turn model).
    # The first reply of the session waits out the merge window (the echo path is not known
    # yet); the second is quick, and the continuation arrives while it plays: it merges.
    def paused(name: str, first: str, second: str) -> Path:
        parts = [media.speech(tts, first), media.silence(0.75), media.speech(tts, second)]
        return media.write_wav(
            speech_dir / f"{name}.wav", np.concatenate([*parts, media.silence(0.2)])
        )

    live = chat()
    turns = []
    for name, first, second, must in (
        ("rome", "Tell me about the", "history of Rome.", {"tell", "rome"}),
        ("paris", "I think that we", "should visit Paris next year.", {"think", "paris"}),
    ):
        pulse.play(paused(name, first, second))
        turn = live.wait_for(is_turn, timeout=90)
        assert must <= set(words(turn["transcript"])), turn["transcript"]
        turns.append(turn["turn"])
    time.sleep(1.0)
    later = [item["turn"] for item in live.drain() if is_turn(item) and item["turn"] not in turns]
    assert live.stop() in (0, 130)
    assert later == [], (turns, later)
