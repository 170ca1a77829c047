"""The whole spoken turn through the real command line and the real models."""

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant import config
from assistant.models.loaders import Models
from assistant.models.piper import PiperTTS
from assistant.models.whisper import WhisperSTT
from assistant.pipeline.conversation import Observers
from assistant.pipeline.events import Event
from assistant.sessions import ask_text
from tests import media
from tests.conftest import run_cli


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def turns_of(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


Turn = dict[str, Any]


@pytest.fixture(scope="module")
def chat_result(tts: PiperTTS, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Turn], Path]:
    folder = tmp_path_factory.mktemp("spider")
    question = media.speech(tts, "How many legs does a spider have?")
    pcm = np.concatenate([media.silence(0.5), question, media.silence(1.5)])
    path = media.write_wav(folder / "question.wav", pcm)
    reply = folder / "reply.wav"
    # greedy: a reproducible (English) answer, so Whisper can check what was spoken
    out = run_cli(
        "chat", "--input", str(path), "--output", str(reply), "--json", "--preset", "greedy"
    )
    assert out.returncode == 0, out.stderr
    return turns_of(out.stdout), reply


def test_spoken_question_is_transcribed_and_answered(chat_result: tuple[list[Turn], Path]) -> None:
    turns, _ = chat_result
    assert len(turns) == 1
    turn = turns[0]
    assert {"spider", "legs"} <= words(turn["transcript"])
    assert turn["reply"].strip()
    timings = turn["timings_ms"]
    for key in ("stt", "llm_first_token", "tts_first_audio", "voice_to_voice"):
        assert timings[key] is not None and timings[key] > 0, key
    # real-time pace: the reply cannot start before the question has ended and been endpointed
    assert timings["voice_to_voice"] >= timings["endpoint"] > 0


def test_reply_audio_is_speech_that_says_the_reply(
    chat_result: tuple[list[dict], Path],
    stt: WhisperSTT,
) -> None:
    turns, reply = chat_result
    pcm, rate = media.read_wav(reply)
    assert rate == 24000
    assert len(pcm) / rate > 0.5 and media.rms_dbfs(pcm) > -35
    assert turns[0]["reply_audio_s"] == pytest.approx(len(pcm) / rate, abs=0.05)
    heard = stt.transcribe(media.speech_to_16k(pcm, rate).astype(np.float32) / 32768).text
    said = words(turns[0]["reply"])
    assert len(words(heard) & said) >= 0.5 * len(said), (heard, turns[0]["reply"])


def test_two_utterances_make_two_turns_sharing_history(tts: PiperTTS, tmp_path: Path) -> None:
    pcm = np.concatenate(
        [
            media.silence(0.4),
            media.speech(tts, "My name is Alice."),
            # Past the merge window of a turn that is not a question (turn_merge_ms + 500 ms =
            # 1.5 s): at exactly 1.5 s, whether the second sentence continued the first depended
            # on how much of the first reply had been made by then, a race under load.
            media.silence(2.5),
            media.speech(tts, "How many legs does a spider have?"),
            media.silence(1.0),
        ]
    )
    path = media.write_encoded(tmp_path / "two.ogg", pcm, 16000, "libopus", 48000, "stereo")
    out = run_cli("chat", "--input", str(path), "--json", "--no-realtime", "--seed", "3")
    assert out.returncode == 0, out.stderr
    turns = turns_of(out.stdout)
    assert [t["turn"] for t in turns] == [1, 2]
    assert "alice" in words(turns[0]["transcript"])
    assert {"spider", "legs"} <= words(turns[1]["transcript"])


@pytest.mark.parametrize("kind", ["silence", "noise", "hum"])
def test_no_speech_makes_no_turn(kind: str, tmp_path: Path) -> None:
    if kind == "silence":
        pcm = media.silence(4.0)
    elif kind == "noise":
        pcm = np.concatenate([media.noise(2.0, -35), media.noise(2.0, -20, seed=1)])
    else:
        t = np.arange(4 * 16000) / 16000
        pcm = (3000 * np.sin(2 * np.pi * 120 * t)).astype(np.int16)
    path = media.write_wav(tmp_path / f"{kind}.wav", pcm)
    reply = tmp_path / "reply.wav"
    out = run_cli("chat", "--input", str(path), "--json", "--no-realtime", "--output", str(reply))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
    assert "no speech" in out.stderr
    pcm_out, _ = media.read_wav(reply)
    assert len(pcm_out) == 0


def test_ask_speaks_the_reply_to_a_file(tmp_path: Path) -> None:
    wav = tmp_path / "answer.wav"
    out = run_cli("ask", "What colour is the sky?", "--speak", str(wav), "--json", "--seed", "1")
    assert out.returncode == 0, out.stderr
    turn = json.loads(out.stdout)
    assert turn["reply"] and turn["timings_ms"]["llm_first_token"] > 0
    pcm, _ = media.read_wav(wav)
    assert media.rms_dbfs(pcm) > -35


def test_ask_streams_plain_text(tmp_path: Path) -> None:
    out = run_cli("ask", "Say hello.", "--max-tokens", "8", "--preset", "greedy")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("assistant: ") and len(out.stdout.split()) >= 2


def test_speech_starts_before_the_model_has_finished(models: Models) -> None:
    """The first clause is spoken while the model is still writing the rest of the reply."""
    settings = config.load({"llm": {"preset": "greedy", "max_tokens": 80}})
    observers = Observers()
    events: list[Event] = []
    observers.bus.listen(events.append)
    question = "Describe the four seasons of the year, one sentence each."
    report = asyncio.run(ask_text(settings, question, observers=observers, models=models))
    kinds = [e.kind for e in events]
    assert kinds.count("clause") >= 2, report.reply
    assert kinds.index("tts_audio") < kinds.index("reply_done")
