"""Every model role on a server of the user's choice: voice sessions on remote backends only.

llama.cpp's own OpenAI server (``python -m llama_cpp.server``, the store's SmolLM2) answers chat;
a second `assistant serve` is the audio server (OpenAI's ``/v1/audio/transcriptions`` and
``/v1/audio/speech``). The `assistant serve` or `assistant kiosk` under test keeps only what
listens on the device (audio, the echo canceller, the VAD, the end-of-turn model, the wake
word), and never imports the libraries of the models that run elsewhere.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from assistant import config
from assistant.catalog import ModelStore
from assistant.convert.audio_decode import decode_audio
from assistant.models.piper import PiperTTS
from assistant.types import Pcm16
from tests import media
from tests.conftest import ASSISTANT
from tests.kiosk_process import Kiosk
from tests.llama_server import llama_server
from tests.pulse import PulseServer, needs_pulse
from tests.serving import serving, start, voice_messages, ws_url

# The libraries of local recognition, synthesis and chat: a thin kiosk imports none of them.
HEAVY = ("faster_whisper", "ctranslate2", "piper", "llama_cpp")
# Where their native code lies: a process that imported one has one of these mapped.
HEAVY_FILES = ("/ctranslate2", "/faster_whisper/", "/piper/", "/llama_cpp/")

# `python -m assistant` that writes the modules it imported to $MODULES_OUT when it exits.
COUNTING = [
    ASSISTANT[0],
    "-c",
    "import atexit, json, os, runpy, sys\n"
    "def dump():\n"
    "    with open(os.environ['MODULES_OUT'], 'w') as out:\n"
    "        json.dump(sorted(sys.modules), out)\n"
    "atexit.register(dump)\n"
    "runpy.run_module('assistant', run_name='__main__', alter_sys=True)\n",
]


@pytest.fixture(scope="module")
def chat_url() -> Iterator[str]:
    """llama.cpp's server with the default chat model: its /v1."""
    settings = config.load()
    model = ModelStore(settings.models_dir).resolve("llm", settings.llm.model).path
    with llama_server(model, n_ctx=2048) as url:
        yield url


@pytest.fixture(scope="module")
def audio_url() -> Iterator[str]:
    """`assistant serve` as the speech server: its URL."""
    with serving() as url:
        yield url


@pytest.fixture(scope="module")
def question(question_wav: Path) -> Pcm16:
    return decode_audio(question_wav, 16000)


def all_remote(chat_url: str, audio_url: str) -> dict[str, str]:
    """Settings that put chat, recognition and synthesis on those servers."""
    return {
        "ASSISTANT_LLM__BACKEND": "openai",
        "ASSISTANT_LLM__BASE_URL": chat_url,
        "ASSISTANT_STT__BACKEND": "openai",
        "ASSISTANT_STT__URL": f"{audio_url}/v1",
        "ASSISTANT_TTS__BACKEND": "openai",
        "ASSISTANT_TTS__URL": f"{audio_url}/v1",
    }


def served(url: str, endpoint: str) -> float:
    """How many requests the `assistant serve` at ``url`` answered with 200 at ``endpoint``."""
    name = f'assistant_requests_total{{endpoint="{endpoint}",status="200"}}'
    metrics = httpx.get(f"{url}/metrics").text
    line = next((x for x in metrics.splitlines() if x.startswith(name)), f"{name} 0")
    return float(line.rsplit(" ", 1)[1])


def voice_turn(url: str, pcm: Pcm16) -> tuple[list[dict], bytes]:
    """One spoken question on ``/ws/voice``, fed at speaking pace: the messages and reply audio."""
    from websockets.sync.client import connect

    with connect(ws_url(url) + "/voice", max_size=None) as ws:
        assert json.loads(ws.recv(timeout=60))["type"] == "ready"
        time.sleep(0.6)  # the noise floor is measured on the first half second
        for at in range(0, len(pcm), 640):
            ws.send(pcm[at : at + 640].astype("<i2").tobytes())
            time.sleep(0.02)
        ws.send(json.dumps({"type": "end"}))
        return voice_messages(ws, "turn", timeout=120)


def assert_answered(messages: list[dict], audio: bytes) -> None:
    """The turn has the question's transcript, a reply and its audio, and no error."""
    assert not [m for m in messages if m["type"] == "error"], messages
    final = next(m for m in messages if m["type"] == "transcript" and m["final"])
    assert "capital" in final["text"].lower(), final
    reply = next(m for m in messages if m["type"] == "reply")
    assert reply["text"].strip(), reply
    samples = np.frombuffer(audio, "<i2")
    assert len(samples) > 24000 * 0.5 and np.abs(samples).max() > 1000


def test_a_voice_session_runs_entirely_on_remote_backends(
    chat_url: str, audio_url: str, question: Pcm16, tmp_path: Path
) -> None:
    heard = served(audio_url, "/v1/audio/transcriptions")
    spoken = served(audio_url, "/v1/audio/speech")
    modules = tmp_path / "modules.json"
    env = {**all_remote(chat_url, audio_url), "MODULES_OUT": str(modules)}
    proc, url = start(env=env, program=COUNTING)
    try:
        messages, audio = voice_turn(url, question)
        health = httpx.get(f"{url}/health").json()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]
    assert_answered(messages, audio)
    assert served(audio_url, "/v1/audio/transcriptions") > heard  # recognised there
    assert served(audio_url, "/v1/audio/speech") > spoken  # and spoken there
    listed = httpx.get(f"{chat_url}/models").json()["data"][0]["id"]
    assert health["backend"] == "openai" and health["model"] == listed  # answered by llama.cpp
    loaded = {row["role"]: row["bytes"] for row in health["loaded"]}
    assert loaded["stt"] is None and loaded["tts"] is None  # no weights of theirs here
    imported = set(json.loads(modules.read_text()))
    assert "onnxruntime" in imported  # the end-of-turn model runs here, as it should
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_two_servers_share_one_set_of_remote_backends(
    chat_url: str, audio_url: str, question: Pcm16
) -> None:
    heard = served(audio_url, "/v1/audio/transcriptions")
    env = all_remote(chat_url, audio_url)
    with serving(env=env) as first, serving(env=env) as second:
        turns: dict[str, tuple[list[dict], bytes]] = {}
        spans: dict[str, tuple[float, float]] = {}

        def session(url: str) -> None:
            began = time.monotonic()
            turns[url] = voice_turn(url, question)
            spans[url] = (began, time.monotonic())

        threads = [threading.Thread(target=session, args=(url,)) for url in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
    assert set(turns) == {first, second}, "a session did not finish"
    for messages, audio in turns.values():
        assert_answered(messages, audio)
    (a_start, a_end), (b_start, b_end) = spans.values()
    assert a_start < b_end and b_start < a_end  # the sessions ran at the same time
    assert served(audio_url, "/v1/audio/transcriptions") >= heard + 2


@needs_pulse()
def test_a_thin_kiosk_keeps_only_the_listening_on_the_device(
    pulse: PulseServer, tts: PiperTTS, chat_url: str, audio_url: str, tmp_path: Path
) -> None:
    sets = [f"{key[10:].lower().replace('__', '.')}={value}"
            for key, value in all_remote(chat_url, audio_url).items()]  # fmt: skip
    question = media.speech(tts, "What is the capital of France?")
    wav = media.write_wav(tmp_path / "question.wav", np.concatenate([question, media.silence(0.2)]))
    kiosk = Kiosk(pulse, *sets)
    try:
        kiosk.wait_listening()
        pulse.play(wav)
        turn = kiosk.turn()
        maps = Path(f"/proc/{kiosk.process.pid}/maps").read_text()
    finally:
        code, _ = kiosk.terminate()
    assert "capital" in turn["transcript"].lower() and turn["reply"].strip(), turn
    assert turn["reply_audio_s"] > 0.5  # spoken by the audio server, played here
    assert "onnxruntime" in maps  # the end-of-turn model runs on the device
    assert not [name for name in HEAVY_FILES if name in maps], [
        line for line in maps.splitlines() if any(name in line for name in HEAVY_FILES)
    ][:5]
    assert code == 0 and not kiosk.log.text, kiosk.log.text
