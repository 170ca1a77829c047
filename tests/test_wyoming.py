"""The Wyoming endpoint, driven by the `wyoming` package's own client against `assistant serve`."""

import asyncio
import contextlib
import json
import os
import socket
import subprocess
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)
from wyoming.wake import Detect, Detection, NotDetected

from assistant.models.piper import PiperTTS
from tests import media
from tests.conftest import ASSISTANT, REPO
from tests.serving import free_port, start

CD_RATE = 22050


@pytest.fixture(scope="module")
def wyoming_server() -> Iterator[tuple[int, str]]:
    """A real `assistant serve` with Wyoming on a free port; greedy, so replies repeat exactly."""
    port = free_port()
    proc, url = start("--wyoming-port", str(port), env={"ASSISTANT_LLM__PRESET": "greedy"})
    try:
        yield port, url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def wyoming_port(wyoming_server: tuple[int, str]) -> int:
    return wyoming_server[0]


def test_the_models_wyoming_loaded_are_reported_by_health(
    wyoming_server: tuple[int, str],
) -> None:
    port, url = wyoming_server
    asyncio.run(exchange(port, [Synthesize(text="Hello there.").event()], "audio-stop"))
    loaded = {row["role"]: row for row in httpx.get(f"{url}/health").json()["loaded"]}
    assert loaded["llm"]["name"] and loaded["llm"]["bytes"] > 50_000_000
    assert loaded["tts"]["name"] == "piper-en_US-joe-medium" and loaded["tts"]["bytes"] > 1_000_000


async def exchange(port: int, events: list[Event], until: str, timeout: float = 60) -> list[Event]:
    """Send ``events``, then read until an event of type ``until``."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        for event in events:
            await client.write_event(event)
        received: list[Event] = []
        while True:
            event = await asyncio.wait_for(client.read_event(), timeout)
            assert event is not None, f"connection closed after {[e.type for e in received]}"
            received.append(event)
            if event.type == until:
                return received


def test_describe_names_the_services_and_their_models(wyoming_port: int) -> None:
    received = asyncio.run(exchange(wyoming_port, [Describe().event()], "info"))
    info = Info.from_event(received[-1])
    assert [m.name for m in info.asr[0].models] == ["whisper-tiny.en"]
    assert info.asr[0].supports_transcript_streaming
    assert [v.name for v in info.tts[0].voices] == ["piper-en_US-joe-medium"]
    assert info.tts[0].supports_synthesize_streaming
    assert info.handle[0].models[0].name and info.handle[0].supports_handled_streaming
    assert {m.name for m in info.wake[0].models} == {
        "okay_nabu",
        "hey_jarvis",
        "hey_mycroft",
        "alexa",
    }
    pong = asyncio.run(exchange(wyoming_port, [Ping(text="hi").event()], "pong"))
    assert Pong.from_event(pong[-1]).text == "hi"


def test_transcribes_a_question_at_22050_hz_stereo(wyoming_port: int, tts: PiperTTS) -> None:
    mono = media.speech(tts, "What is the capital of France?", CD_RATE)
    quiet = np.concatenate([media.silence(0.3, CD_RATE), mono, media.silence(0.5, CD_RATE)])
    stereo = np.stack([quiet, quiet], axis=1).reshape(-1).astype("<i2").tobytes()
    fmt = {"rate": CD_RATE, "width": 2, "channels": 2}
    chunk = CD_RATE * 4 // 10 + 1  # ~100 ms; odd, so chunks split samples and frames
    events = [Transcribe(language="en").event(), AudioStart(**fmt).event()]
    events += [
        AudioChunk(**fmt, audio=stereo[i : i + chunk]).event() for i in range(0, len(stereo), chunk)
    ]
    received = asyncio.run(exchange(wyoming_port, [*events, AudioStop().event()], "transcript"))
    kinds = [e.type for e in received]
    assert TranscriptStart.is_type(kinds[0])
    assert TranscriptChunk.is_type(kinds[1]) and TranscriptStop.is_type(kinds[2])
    text = Transcript.from_event(received[-1]).text
    assert "capital" in text.lower() and "france" in text.lower()


def _audio(received: list[Event]) -> tuple[np.ndarray, int]:
    start = AudioStart.from_event(next(e for e in received if AudioStart.is_type(e.type)))
    chunks = [AudioChunk.from_event(e).audio for e in received if AudioChunk.is_type(e.type)]
    return np.frombuffer(b"".join(chunks), "<i2"), start.rate


def test_synthesizes_plain_and_streamed_text(wyoming_port: int) -> None:
    text = "The kettle is on. Tea will be ready in five minutes, if the water boils."
    plain = asyncio.run(exchange(wyoming_port, [Synthesize(text=text).event()], "audio-stop"))
    pcm, rate = _audio(plain)
    assert rate == 22050 and 3.0 < len(pcm) / rate < 9.0 and media.rms_dbfs(pcm) > -35
    voice = SynthesizeVoice(name="piper-en_US-joe-medium")
    words = text.split(" ")
    stream = [SynthesizeStart(voice=voice).event()]
    stream += [SynthesizeChunk(text=w + " ").event() for w in words]
    stream += [Synthesize(text=text, voice=voice).event(), SynthesizeStop().event()]
    streamed = asyncio.run(exchange(wyoming_port, stream, "synthesize-stopped"))
    assert SynthesizeStopped.is_type(streamed[-1].type)
    assert [e.type for e in streamed].count("audio-start") == 1  # the plain copy is not spoken
    spoken, _ = _audio(streamed)
    assert abs(len(spoken) - len(pcm)) / len(pcm) < 0.25
    first_chunk = next(i for i, e in enumerate(streamed) if AudioChunk.is_type(e.type))
    assert first_chunk < len(streamed) - 3  # audio flows before the text has all been spoken


def test_an_unknown_voice_is_an_error_naming_the_voice_there_is(wyoming_port: int) -> None:
    request = Synthesize(text="Hello.", voice=SynthesizeVoice(name="de_DE-thorsten-medium"))
    received = asyncio.run(exchange(wyoming_port, [request.event()], "error"))
    assert "piper-en_US-joe-medium" in Error.from_event(received[-1]).text


async def ask(client: AsyncTcpClient, question: str) -> list[Event]:
    """One ``transcript`` to handle, and everything up to its ``handled``."""
    await client.write_event(Transcript(text=question).event())
    got: list[Event] = []
    while not got or got[-1].type != "handled":
        event = await asyncio.wait_for(client.read_event(), 60)
        assert event is not None, f"connection closed after {[e.type for e in got]}"
        got.append(event)
    return got


def test_handle_streams_the_answer_in_a_conversation_per_client(wyoming_port: int) -> None:
    async def conversations() -> tuple[list[Event], str, str]:
        async with AsyncTcpClient("127.0.0.1", wyoming_port) as client:
            first = await ask(client, "My name is Ada and I live in Paris.")
            followed = Handled.from_event((await ask(client, "What is my name?"))[-1]).text
        async with AsyncTcpClient("127.0.0.1", wyoming_port) as fresh:
            alone = Handled.from_event((await ask(fresh, "What is my name?"))[-1]).text
        return first, followed or "", alone or ""

    first, followed, alone = asyncio.run(conversations())
    kinds = [e.type for e in first]
    assert HandledStart.is_type(kinds[0]) and HandledStop.is_type(kinds[-2])
    pieces = "".join(HandledChunk.from_event(e).text for e in first if e.type == "handled-chunk")
    assert pieces and pieces == Handled.from_event(first[-1]).text
    # Greedy decoding: the same question on a fresh connection is answered the same way every
    # time, so a different answer after the first turn is that turn being in the prompt.
    assert followed and alone and followed != alone


def test_detect_hears_the_wake_word_and_nothing_else(wyoming_port: int, tts: PiperTTS) -> None:
    pad = media.silence(0.5, 22050)
    wake = np.concatenate([pad, media.speech(tts, "Hey Jarvis, what time is it?", 22050), pad])

    async def hear(pcm: np.ndarray, names: list[str] | None) -> list[Event]:
        fmt = {"rate": 22050, "width": 2, "channels": 1}
        data = pcm.astype("<i2").tobytes()
        async with AsyncTcpClient("127.0.0.1", wyoming_port) as client:
            await client.write_event(Detect(names=names).event())
            await client.write_event(AudioStart(**fmt).event())
            for i in range(0, len(data), 4410):
                await client.write_event(AudioChunk(**fmt, audio=data[i : i + 4410]).event())
            await client.write_event(AudioStop().event())
            got: list[Event] = []
            while not got or got[-1].type not in ("not-detected", "error"):
                event = await asyncio.wait_for(client.read_event(), 5)
                assert event is not None
                got.append(event)
                if event.type == "detection":
                    break
            return got

    found = asyncio.run(hear(wake, ["hey_jarvis"]))
    assert Detection.from_event(found[-1]).name == "hey_jarvis"
    assert 500 < (Detection.from_event(found[-1]).timestamp or 0) < len(wake) / 22.05
    others = [
        media.speech(tts, "What is the capital of France?", 22050),
        media.noise(3.0, -30.0, 22050),
        media.silence(3.0, 22050),
    ]
    for pcm in others:
        assert NotDetected.is_type(asyncio.run(hear(pcm, None))[-1].type)
    refused = asyncio.run(hear(wake, ["ok_google"]))
    assert "ok_google" in Error.from_event(refused[0]).text


def _raw(port: int, data: bytes) -> bytes:
    """Send raw bytes, then read until the server closes the connection."""
    answer = b""
    # Closed while bytes it never read were still arriving, the connection is reset.
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as sock,
        contextlib.suppress(ConnectionResetError, BrokenPipeError),
    ):
        sock.sendall(data)
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "data",
    [
        b"this is not json\n",
        b'{"data": {}}\n',  # no type
        json.dumps({"type": "audio-chunk", "payload_length": 1 << 40}).encode() + b"\n",
        b'{"type": "describe"' + b" " * (200 * 1024) + b"}\n",  # a header past the line limit
    ],
    ids=["not-json", "no-type", "oversized-payload", "endless-header"],
)
def test_malformed_and_oversized_events_close_that_connection_only(
    wyoming_port: int, data: bytes
) -> None:
    assert _raw(wyoming_port, data) == b""  # closed without an answer
    received = asyncio.run(exchange(wyoming_port, [Describe().event()], "info"))
    assert received  # the server is still there for the next client


def test_a_client_vanishing_mid_stream_leaves_the_server_serving(
    wyoming_port: int, tts: PiperTTS
) -> None:
    pcm = media.speech(tts, "Turn on the lights in the kitchen please.")
    fmt = {"rate": 16000, "width": 2, "channels": 1}
    header = AudioStart(**fmt).event()
    chunk = AudioChunk(**fmt, audio=pcm.tobytes()).event()
    line = json.dumps({"type": chunk.type, "data": chunk.data, "payload_length": 64000})
    with socket.create_connection(("127.0.0.1", wyoming_port), timeout=30) as sock:
        sock.sendall(json.dumps({"type": header.type, "data": header.data}).encode() + b"\n")
        sock.sendall(line.encode() + b"\n" + pcm.tobytes()[:20000])  # then gone, mid-payload
    with socket.create_connection(("127.0.0.1", wyoming_port), timeout=30) as sock:
        sock.sendall(json.dumps({"type": "synthesize", "data": {"text": "Hi."}}).encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)  # asked, and gone before the answer
    request = Synthesize(text="Still here.").event()
    received = asyncio.run(exchange(wyoming_port, [request], "audio-stop"))
    assert _audio(received)[0].size > 0


def test_wyoming_off_loopback_needs_the_explicit_setting() -> None:
    env = {**os.environ, "ASSISTANT_SERVER__WYOMING_HOST": "0.0.0.0"}
    out = subprocess.run(
        [*ASSISTANT, "serve", "--port", str(free_port()), "--wyoming-port", str(free_port())],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "wyoming_allow_network" in lines[0]


def test_handle_without_a_chat_model_is_an_error_and_the_session_goes_on(
    wyoming_server: tuple[int, str],
) -> None:
    port, url = wyoming_server
    assert httpx.post(f"{url}/api/models/unload", timeout=60).status_code == 200
    try:

        async def ask_then_describe() -> list[Event]:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Transcript(text="Hello?").event())
                await client.write_event(Describe().event())
                got: list[Event] = []
                while not got or got[-1].type != "info":
                    event = await asyncio.wait_for(client.read_event(), 30)
                    assert event is not None, f"connection closed after {got}"
                    got.append(event)
                return got

        got = asyncio.run(ask_then_describe())
        assert "no chat model is loaded" in Error.from_event(got[0]).text
    finally:
        loaded = {"model": "smollm2-135m-instruct"}
        assert httpx.post(f"{url}/api/models/load", json=loaded, timeout=120).status_code == 200
