"""The Wyoming speech backends against real servers on loopback.

wyoming-faster-whisper and wyoming-piper, as Home Assistant users run them, from their own
environment (.servers-venv, which `make pytest` installs) with this project's model files:
a spoken turn of `assistant chat` through them hears what the local model hears and answers
aloud; synthesis streams; the audio limit, a missing server and a server that never accepts
fail as one RemoteFailed in time. The protocol's other forms and a misbehaving server (streamed
transcripts, other audio formats, garbage, silence, endless streams, errors) are scripted
servers on loopback (tests/wyoming_script.py).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from wyoming.asr import TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_read_event

from assistant import config
from assistant.config import Settings
from assistant.config_remote import RemoteRole
from assistant.errors import ConfigError
from assistant.models.loaders import load_stt, load_tts, store
from assistant.models.piper import PiperTTS
from assistant.models.remote_role import RemoteFailed
from assistant.models.whisper import WhisperSTT
from assistant.models.wyoming_audio import VOICE_RATE, WyomingSTT, WyomingTTS
from tests import media
from tests.conftest import REPO, run_cli
from tests.serving import free_port
from tests.wyoming_script import Script, read_until, scripted, voice_info, write

SERVERS = REPO / ".servers-venv" / "bin" / "python"
QUESTION = "What is the capital of France?"
LONG = (
    "Paris is the capital of France. It lies on the river Seine, which flows to the sea. "
    "More than two million people live there, and many more visit it every year. "
    "Its museums hold some of the most famous paintings in the world."
)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    """wyoming-faster-whisper, wyoming-piper and a Piper without streaming: their URLs."""
    if not SERVERS.exists():
        pytest.fail(f"{SERVERS} is missing: `make .servers-venv/bin/python` installs it")
    settings = config.load()
    whisper = store(settings).resolve("stt", settings.stt.model).path
    voice = store(settings).resolve("tts", settings.tts.model).path
    urls = {name: f"tcp://127.0.0.1:{free_port()}" for name in ("stt", "tts", "tts-whole")}
    piper = ["-m", "wyoming_piper", "--voice", voice.stem, "--data-dir", str(voice.parent)]
    commands = {
        "stt": [
            *("-m", "wyoming_faster_whisper", "--model", str(whisper)),
            *("--data-dir", str(whisper.parent), "--beam-size", str(settings.stt.beam_size)),
            *("--language", "en", "--cpu-threads", "1"),
        ],
        "tts": piper,
        "tts-whole": [*piper, "--no-streaming"],
    }
    procs = [
        subprocess.Popen(
            [str(SERVERS), *command, "--uri", urls[name], "--local-files-only"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, command in commands.items()
    ]
    try:
        for name, url in urls.items():
            _wait_ready(url, name.split("-")[0])
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


def _wait_ready(url: str, role: str, timeout_s: float = 120) -> None:
    remote = WyomingSTT(_role(url), "en", 100) if role == "stt" else WyomingTTS(_role(url), "", 9)
    deadline = time.monotonic() + timeout_s
    while not remote.status().ready:
        assert time.monotonic() < deadline, f"no Wyoming {role} server at {url}"
        time.sleep(0.3)


def _role(url: str, **fields: Any) -> RemoteRole:
    return RemoteRole(url=url, **fields)


def _settings(stt: dict[str, Any] | None = None, tts: dict[str, Any] | None = None) -> Settings:
    return Settings(
        stt={"backend": "wyoming", **(stt or {})}, tts={"backend": "wyoming", **(tts or {})}
    )


def _turns(out: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"turn"')]


def test_a_spoken_turn_through_wyoming_hears_what_local_hears_and_answers_aloud(
    servers: dict[str, str], question_wav: Path, tmp_path: Path
) -> None:
    args = ["chat", "--input", str(question_wav), "--json", "--no-realtime", "--max-tokens", "40"]
    local = _turns(run_cli(*args, "--output", str(tmp_path / "local.wav")))
    env = {
        "ASSISTANT_STT__BACKEND": "wyoming",
        "ASSISTANT_STT__URL": servers["stt"],
        "ASSISTANT_TTS__BACKEND": "wyoming",
        "ASSISTANT_TTS__URL": servers["tts"],
    }
    reply = tmp_path / "remote.wav"
    remote = _turns(run_cli(*args, "--output", str(reply), env=env))
    assert len(remote) == len(local) == 1
    assert remote[0]["transcript"] == local[0]["transcript"]
    assert "capital of france" in str(remote[0]["transcript"]).lower()
    pcm, rate = media.read_wav(reply)
    assert len(pcm) / rate > 0.8 and float(remote[0]["reply_audio_s"]) > 0.8  # type: ignore[arg-type]
    assert media.level_dbfs(pcm) > -35  # speech, not silence


def test_status_is_ready_with_its_latency_and_what_it_serves(servers: dict[str, str]) -> None:
    settings = _settings({"url": servers["stt"]}, {"url": servers["tts"], "voice": "x"})
    stt, tts = load_stt(settings, store(settings)), load_tts(settings, store(settings))
    assert isinstance(stt, WyomingSTT) and isinstance(tts, WyomingTTS)
    for remote, model in ((stt, "whisper-tiny.en"), (tts, "x")):
        status = remote.status()
        assert status.ready and status.backend == "wyoming" and status.url == remote.url
        assert status.latency_ms is not None and 0 < status.latency_ms < 2000
        assert status.model.endswith(model) and not status.error
        remote.close()
    assert stt.calls == tts.calls == 0  # a status probe is no request


def test_synthesis_streams_its_first_audio_before_the_last(
    servers: dict[str, str], stt: WhisperSTT
) -> None:
    for name, streamed in (("tts", True), ("tts-whole", False)):
        voice = WyomingTTS(_role(servers[name]), "", 60)
        started, arrivals, pieces = time.perf_counter(), [], []
        for piece in voice.synthesize(LONG):
            assert piece.dtype == np.int16 and piece.ndim == 1
            arrivals.append(time.perf_counter() - started)
            pieces.append(piece)
        assert voice.calls == 1 and voice.status().ready
        assert voice._streams is streamed  # what the server's info offers is the form used
        speech = np.concatenate(pieces)
        assert len(speech) / VOICE_RATE > 6  # four sentences, at the rate the class declares
        # Piper speaks sentence by sentence: the first arrives well before the last is made
        assert arrivals[0] < 0.6 * arrivals[-1], (name, arrivals[0], arrivals[-1])
        heard = stt.transcribe(
            media.speech_to_16k(speech, VOICE_RATE).astype(np.float32) / 32768
        ).text.lower()
        assert "paris" in heard and "paintings" in heard, heard


def test_speech_past_its_limit_is_cut_off_and_the_server_goes_on(
    servers: dict[str, str],
) -> None:
    voice = WyomingTTS(_role(servers["tts"], retries=3), "", 1.0)
    kept: list[np.ndarray] = []
    with pytest.raises(RemoteFailed, match=r"more than 1 s of audio.*tts\.max_audio_s") as cut:
        for piece in voice.synthesize(LONG):
            kept.append(piece)
    assert not cut.value.before_answer and voice.calls == 1  # audio was played: no retry
    assert sum(len(p) for p in kept) == VOICE_RATE  # exactly the limit reached the speaker
    assert servers["tts"] in str(cut.value)
    assert sum(len(p) for p in voice.synthesize("Yes.")) > 0.2 * VOICE_RATE


def test_a_server_that_is_not_running_fails_fast_naming_it() -> None:
    url = f"tcp://127.0.0.1:{free_port()}"
    remote = WyomingSTT(_role(url, retries=2, connect_timeout_s=1.0), "en", 100)
    started = time.monotonic()
    with pytest.raises(RemoteFailed) as failed:
        remote.transcribe(np.zeros(16000, np.float32))
    assert time.monotonic() - started < 3
    message = str(failed.value)
    assert url in message and "stt.url" in message and "\n" not in message
    assert remote.calls == 3  # tried, and twice again: nothing had been answered
    status = remote.status(timeout_s=1.0)
    assert not status.ready and "could not be reached" in status.error


def test_a_server_that_never_accepts_fails_within_the_connect_timeout() -> None:
    with socket.socket() as full:  # a listener whose queue is full: connects hang
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        url = f"tcp://127.0.0.1:{full.getsockname()[1]}"
        waiting = []
        try:
            while True:  # fill its queue (one connection on Linux) until a connect hangs
                sock = socket.socket()
                sock.settimeout(0.3)
                waiting.append(sock)
                try:
                    sock.connect(full.getsockname())
                except TimeoutError:
                    break
                assert len(waiting) < 10, "the listener keeps accepting"
            voice = WyomingTTS(_role(url, retries=0, connect_timeout_s=0.5), "", 9)
            started = time.monotonic()
            with pytest.raises(RemoteFailed, match=r"did not accept a connection within 0\.5 s"):
                list(voice.synthesize("Hello."))
            assert 0.4 < time.monotonic() - started < 2.0
        finally:
            for sock in waiting:
                sock.close()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:10300", "tcp://127.0.0.1", "tcp://:10300", "tcp://h:1/x", "h:1"]
)
def test_a_url_that_is_not_tcp_host_port_is_a_config_error(url: str) -> None:
    settings = _settings({"url": url})
    with pytest.raises(ConfigError, match=r"tcp://host:port"):
        load_stt(settings, store(settings))


def test_a_wyoming_backend_needs_its_url() -> None:
    settings = _settings()
    with pytest.raises(ConfigError, match=r'tts\.url \(e\.g\. "tcp://'):
        load_tts(settings, store(settings))


def test_recognition_of_silence_is_no_speech(servers: dict[str, str], tts: PiperTTS) -> None:
    remote = WyomingSTT(_role(servers["stt"]), "en", 100)
    assert remote.transcribe(np.zeros(16000, np.float32)).text == ""
    pcm = media.speech_to_16k(media.speech(tts, QUESTION), tts.sample_rate)
    heard = remote.transcribe(pcm.astype(np.float32) / 32768).text
    assert heard.lower().startswith("what is the capital of france")
    cut = WyomingSTT(_role(servers["stt"]), "en", 10).transcribe(pcm.astype(np.float32) / 32768)
    assert cut.text == heard[:10]  # the text is cut at stt.max_text_chars


# Scripted servers (tests/wyoming_script.py): forms and failures the real servers do not show.


@pytest.mark.parametrize(
    ("language", "said", "heard_in"), [("en", None, "en"), ("auto", "fr", "fr")]
)
def test_a_streamed_transcript_is_read_to_its_end(
    language: str, said: str | None, heard_in: str
) -> None:
    asked: list[Event] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.extend(await read_until(reader, "audio-stop"))
        pieces = ["What is", " the capital", " of France?"]
        await write(
            writer,
            TranscriptStart(language=said).event(),
            *(TranscriptChunk(text=p).event() for p in pieces),
            TranscriptStop().event(),
        )
        await reader.read()  # until the client hangs up

    with scripted(script) as url:
        remote = WyomingSTT(_role(url, remote_model="tiny"), language, 100)
        heard = remote.transcribe(np.full(8000, 0.1, np.float32))
        assert heard.text == QUESTION and heard.language == heard_in
    expected = {"name": "tiny", "language": "en"} if language == "en" else {"name": "tiny"}
    assert asked[0].type == "transcribe" and asked[0].data == expected
    assert asked[1].data == {"rate": 16000, "width": 2, "channels": 1, "timestamp": None}
    audio = b"".join(e.payload or b"" for e in asked if e.type == "audio-chunk")
    assert np.all(np.frombuffer(audio, "<i2") == 3276) and len(audio) == 16000


def test_an_endless_transcript_is_cut_at_its_limit() -> None:
    hung_up = threading.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_until(reader, "audio-stop")
        await write(writer, TranscriptStart().event())
        try:
            while True:
                await write(writer, TranscriptChunk(text="word ").event())
        finally:
            hung_up.set()

    with scripted(script) as url:
        remote = WyomingSTT(_role(url), "auto", 50)
        started = time.monotonic()
        heard = remote.transcribe(np.zeros(1600, np.float32)).text
        assert time.monotonic() - started < 5
        assert heard == ("word " * 10).strip() and hung_up.wait(5)


def _voice(script: Script, **fields: Any) -> tuple[list[np.ndarray], RemoteFailed | None, int]:
    """What ``synthesize`` yields from a scripted server, how it failed, and its request count."""
    pieces: list[np.ndarray] = []
    with scripted(script) as url:
        voice = WyomingTTS(_role(url, timeout_s=5, **fields), "", 5)
        try:
            for piece in voice.synthesize("Hello."):
                pieces.append(piece)
        except RemoteFailed as exc:
            assert url in str(exc)
            return pieces, exc, voice.calls
    return pieces, None, voice.calls


def _answering(*answer: Event | bytes, then_close: bool = False) -> Script:
    """A voice server that tells its info, then answers ``synthesize`` with ``answer``."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (event := await async_read_event(reader)) is not None:
            if event.type == "describe":
                await write(writer, voice_info())
            elif event.type == "synthesize":
                for part in answer:
                    if isinstance(part, bytes):
                        writer.write(part)
                    else:
                        await write(writer, part)
                await writer.drain()
                if then_close:
                    return

    return script


@pytest.mark.parametrize(("rate", "width", "channels"), [(16000, 4, 2), (44100, 1, 1)])
def test_audio_of_another_format_comes_out_mono_at_the_declared_rate(
    rate: int, width: int, channels: int
) -> None:
    tone = np.sin(2 * np.pi * 440 * np.arange(rate) / rate) * 0.5
    kinds = {1: ("u1", 127.0, 128.0), 4: ("<i4", 2.0**31 - 1, 0.0)}
    kind, scale, offset = kinds[width]
    frames = np.repeat(tone * scale + offset, channels).astype(kind).tobytes()
    step = len(frames) // 10
    chunks = [
        AudioChunk(rate=rate, width=width, channels=channels, audio=frames[i : i + step]).event()
        for i in range(0, len(frames), step)
    ]
    start = AudioStart(rate=rate, width=width, channels=channels).event()
    pieces, failed, _ = _voice(_answering(start, *chunks, AudioStop().event()))
    assert failed is None and len(pieces) >= 10
    out = np.concatenate(pieces)
    assert abs(len(out) - VOICE_RATE) < VOICE_RATE * 0.01  # one second, at 22050 Hz
    assert abs(media.level_dbfs(out) - 20 * np.log10(0.5 / np.sqrt(2))) < 0.5


@pytest.mark.parametrize(
    ("answer", "why", "retried"),
    [
        ((b"hello\n",), "not a Wyoming event", True),
        ((b'{"type": "audio-chunk", "payload_length": 1000000000}\n',), "payload_length", True),
        ((b'{"type": "x", "data_length": 9}\n' + b"[" * 9,), "not a Wyoming event", True),
        ((b"{" * 2_000_000,), "longer than", True),
        ((Error(text="no such voice").event(),), "answered with an error: no such voice", False),
        ((AudioStart(rate=22050, width=2, channels=1).event(),), "closed the connection", True),
        ((Event("ping"),) * 5000, "5000 events|4096 events without audio", True),
        (
            (AudioChunk(rate=22050, width=3, channels=1, audio=b"\0" * 6).event(),),
            "3 bytes per sample",
            True,
        ),
    ],
    ids=["garbage", "huge-payload", "bad-data", "endless-line", "error", "closed", "pings", "w3"],
)
def test_a_misbehaving_voice_server_is_one_remote_failure(
    answer: tuple[Event | bytes, ...], why: str, retried: bool
) -> None:
    pieces, failed, calls = _voice(_answering(*answer, then_close=True), retries=1)
    assert failed is not None and re.search(why, str(failed)), failed
    assert not pieces and calls == (2 if retried else 1)


def test_a_server_that_breaks_off_its_audio_is_not_asked_again() -> None:
    chunk = AudioChunk(rate=22050, width=2, channels=1, audio=b"\1\0" * 2205).event()
    start = AudioStart(rate=22050, width=2, channels=1).event()
    pieces, failed, calls = _voice(_answering(start, chunk, then_close=True), retries=3)
    assert [len(p) for p in pieces] == [2205]  # what came was played
    assert failed is not None and not failed.before_answer and calls == 1


def test_a_server_that_never_answers_fails_after_its_timeout() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes everything, says nothing

    with scripted(script) as url:
        remote = WyomingSTT(_role(url, timeout_s=0.5, retries=0), "en", 100)
        started = time.monotonic()
        with pytest.raises(RemoteFailed, match=r"sent nothing for 0\.5 s \(timeout_s\)"):
            remote.transcribe(np.zeros(1600, np.float32))
        assert 0.4 < time.monotonic() - started < 2
        status = remote.status(timeout_s=0.5)
        assert not status.ready and "sent nothing" in status.error


def test_calls_leave_no_socket_or_thread_behind(servers: dict[str, str]) -> None:
    stt = WyomingSTT(_role(servers["stt"]), "en", 100)
    voice = WyomingTTS(_role(servers["tts"]), "", 60)
    missing = WyomingSTT(_role(f"tcp://127.0.0.1:{free_port()}", retries=0), "en", 100)

    async def stop_on_a_loop(speech: Iterator[np.ndarray]) -> None:
        speech.close()  # a reply dropped by code on an event loop's thread

    def turn() -> None:
        stt.transcribe(np.zeros(1600, np.float32))
        assert len(np.concatenate(list(voice.synthesize("Yes.")))) > 0
        speech = voice.synthesize(LONG)
        next(speech)
        speech.close()  # a reply stopped after its first piece (barge-in)
        speech = voice.synthesize(LONG)
        next(speech)
        asyncio.run(stop_on_a_loop(speech))
        with pytest.raises(RemoteFailed):
            missing.transcribe(np.zeros(1600, np.float32))

    turn()  # the first call loads what the process keeps
    fds, threads = _open_files(), threading.active_count()
    for _ in range(6):
        turn()
    assert _open_files() == fds and threading.active_count() == threads
    assert stt.calls == 7 and voice.calls == 21 and missing.calls == 7
    assert stt.status().ready and voice.status().ready  # the servers were left in order


def _open_files() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())
