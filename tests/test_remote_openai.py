"""The OpenAI audio API backends against a real server: a second `assistant serve` on loopback."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

from assistant import config
from assistant.models.loaders import load_stt, load_tts, store
from assistant.models.openai_audio import OpenAISTT, OpenAITTS
from assistant.models.remote_role import RemoteFailed
from assistant.models.whisper import WhisperSTT
from tests import media
from tests.serving import free_port, serving

QUESTION = "What is the capital of France?"
LONG = (
    "Paris is the capital of France. It lies on the river Seine. "
    "More than two million people live there, and many more visit every year."
)
# Longer than one piece the server speaks at a time (models/fair_share.PIECE_CHARS)
LONGER = " ".join([LONG, LONG.replace("Paris", "The city"), LONG.replace("Paris", "It"), LONG])


@pytest.fixture(scope="module")
def audio_server() -> Iterator[str]:
    """`assistant serve` as the audio server: its /v1."""
    with serving() as url:
        yield f"{url}/v1"


def _remote(
    url: str, stt: dict | None = None, tts: dict | None = None, **both: object
) -> config.Settings:
    role = {"backend": "openai", "url": url, **both}
    return config.Settings(stt={**role, **(stt or {})}, tts={**role, **(tts or {})})


def test_remote_recognition_hears_what_the_local_model_hears(
    audio_server: str, tts: object, stt: WhisperSTT
) -> None:
    settings = _remote(audio_server)
    remote = load_stt(settings, store(settings))
    assert isinstance(remote, OpenAISTT)
    pcm = media.speech_to_16k(media.speech(tts, QUESTION), tts.sample_rate)  # type: ignore[attr-defined]
    audio = np.concatenate([media.silence(0.3, 16000), pcm]).astype(np.float32) / 32768
    heard = remote.transcribe(audio)
    assert heard.text == stt.transcribe(audio).text
    assert "capital of france" in heard.text.lower()
    assert remote.transcribe(np.zeros(16000, np.float32)).text == ""  # silence is no speech
    assert remote.calls == 2
    status = remote.status()
    assert status.ready and status.backend == "openai" and status.latency_ms is not None
    remote.close()


def test_remote_speech_streams_before_the_text_is_spoken_whole(audio_server: str) -> None:
    settings = _remote(audio_server)
    voice = load_tts(settings, store(settings))
    assert isinstance(voice, OpenAITTS) and voice.sample_rate == 24000
    started = time.perf_counter()
    arrivals, total = [], 0
    for piece in voice.synthesize(LONG):
        assert piece.dtype == np.int16
        arrivals.append(time.perf_counter() - started)
        total += len(piece)
    assert total / 24000 > 4  # three sentences of speech
    print(arrivals[0], arrivals[-1])
    assert len(arrivals) > 1 and arrivals[0] < arrivals[-1]
    assert np.abs(np.concatenate(list(voice.synthesize("Hello.")))).max() > 1000
    voice.close()


def test_remote_speech_is_cut_off_at_its_limit(audio_server: str) -> None:
    settings = _remote(audio_server, tts={"max_audio_s": 1.0})
    voice = load_tts(settings, store(settings))
    kept = []
    with pytest.raises(RemoteFailed, match=r"more than 1 s of audio.*tts\.max_audio_s"):
        for piece in voice.synthesize(LONG):
            kept.append(piece)
    assert sum(len(p) for p in kept) == 24000  # exactly the limit reached the speaker
    voice.close()


def test_a_server_that_is_not_there_fails_fast_with_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    settings = _remote(url, retries=2, connect_timeout_s=1.0)
    remote = load_stt(settings, store(settings))
    started = time.monotonic()
    with pytest.raises(RemoteFailed) as failed:
        remote.transcribe(np.zeros(16000, np.float32))
    assert time.monotonic() - started < 5
    message = str(failed.value)
    assert url in message and "stt.url" in message and "\n" not in message
    assert remote.calls == 3  # tried, and twice again: nothing had been answered
    assert not remote.status(timeout_s=1.0).ready


def test_a_refusal_is_not_retried(audio_server: str) -> None:
    settings = _remote(audio_server, remote_model="x", retries=3)
    voice = load_tts(settings, store(settings))
    with pytest.raises(RemoteFailed, match="answered 4"):
        list(voice.synthesize(" "))  # nothing to speak: the server refuses it
    assert voice.calls == 1


def test_a_remote_backend_needs_its_url() -> None:
    settings = config.Settings(stt={"backend": "openai"})
    with pytest.raises(config.ConfigError, match=r"stt\.url"):
        load_stt(settings, store(settings))


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"llm": {"backend": "openai", "base_url": "http://x/v1", "fallback": "local"}}, "llm"),
        ({"vision": {"backend": "openai", "url": "http://x/v1", "fallback": "local"}}, "vision"),
        ({"stt": {"backend": "wyoming", "url": "tcp://x:1", "api_key": "s3cret"}}, "stt"),
    ],
)
def test_settings_that_cannot_work_are_one_line_without_secrets(settings: dict, named: str) -> None:
    with pytest.raises(config.ConfigError) as refused:
        config.load(settings)
    message = str(refused.value)
    assert message.startswith(f"bad value for {named}: ") and "\n" not in message
    assert "s3cret" not in message and "Value error" not in message


@pytest.fixture
def odd_voice() -> Iterator[tuple[dict[str, str], str]]:
    """A speech server on loopback answering as ``mode`` says: its /v1."""
    import threading

    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import Response, StreamingResponse

    mode = {"mode": "mp3"}
    app = FastAPI()

    @app.post("/v1/audio/speech")
    async def speech() -> Response:
        if mode["mode"] == "mp3":  # the format asked for ignored: an encoded file
            return Response(b"ID3\x04" + bytes(4000), media_type="audio/mpeg")

        async def endless() -> AsyncIterator[bytes]:
            while True:  # an error page that never ends (until the client hangs up, which
                yield b"x" * 65536  # the pause lets the server see)
                await asyncio.sleep(0.005)

        return StreamingResponse(endless(), status_code=500, media_type="text/plain")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield mode, f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive(), "the speech server still serves a client that hung up"


def test_a_voice_answering_other_than_raw_pcm_is_refused_and_read_no_further(
    odd_voice: tuple[dict[str, str], str],
) -> None:
    mode, url = odd_voice
    settings = _remote(url, retries=0)
    voice = load_tts(settings, store(settings))
    try:
        with pytest.raises(RemoteFailed, match="answered audio/mpeg instead of raw pcm"):
            list(voice.synthesize("Hello."))
        mode["mode"] = "endless error"
        with pytest.raises(RemoteFailed, match=r"answered 500: x{300};"):
            list(voice.synthesize("Hello."))
    finally:
        voice.close()


def test_health_shows_where_backends_point_only_to_a_caller_with_the_key() -> None:
    import httpx

    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    env = {
        "ASSISTANT_SERVER__API_KEY": "k3y",
        "ASSISTANT_STT__BACKEND": "openai",
        "ASSISTANT_STT__URL": nowhere,
    }
    with serving(env=env) as url:
        anyone = httpx.get(f"{url}/health", timeout=10).json()["backends"]["stt"]
        keyed = httpx.get(f"{url}/health", headers={"Authorization": "Bearer k3y"}, timeout=10)
        stt = keyed.json()["backends"]["stt"]
    assert not anyone["ready"] and "url" not in anyone and "error" not in anyone
    assert stt["url"] == nowhere and stt["error"] and not stt["ready"]
