"""The Wyoming door under hostile input: every bad event answered, no client starving another.

A real `assistant serve` with its log in a file: each case of issue 33 is sent on a plain
socket (tests/wyoming_raw.py), answered with Wyoming's ``error`` (or a close with one log
line), and the same connection or server still answers ``describe``; the log holds no
traceback. Long synthesis takes turns with a short request from another door.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from wyoming.audio import AudioChunk
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Info
from wyoming.tts import Synthesize

from tests.serving import free_port, start
from tests.wyoming_raw import RawClient, raw_event

DEEP = b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
BAD_EVENTS: dict[str, tuple[bytes, str]] = {  # id -> (event, what the error names)
    "data-nested-100000-deep": (raw_event("synthesize", DEEP), "nested"),
    "synthesize-empty": (raw_event("synthesize", {}), "text"),
    "transcript-empty": (raw_event("transcript", {}), "text"),
    "synthesize-text-number": (raw_event("synthesize", {"text": 5}), "text"),
    "synthesize-text-null": (raw_event("synthesize", {"text": None}), "text"),
    "audio-start-empty": (raw_event("audio-start", {}), "rate"),
    "audio-start-rate-fast": (
        raw_event("audio-start", {"rate": "fast", "width": 2, "channels": 1}),
        "rate",
    ),
    "detect-names-number": (raw_event("detect", {"names": 5}), "names"),
    "voice-unknown-name": (
        raw_event("synthesize", {"text": "Hello.", "voice": {"name": "nope"}}),
        "piper-en_US-joe-medium",
    ),
    "voice-a-string": (raw_event("synthesize", {"text": "Hello.", "voice": "nope"}), "voice"),
    "voice-unknown-language": (
        raw_event("synthesize", {"text": "Hello.", "voice": {"language": "xx_XX"}}),
        "xx_XX",
    ),
    "transcript-text-object": (raw_event("transcript", {"text": {"a": 1}}), "text"),
    "synthesize-over-4096-chars": (raw_event("synthesize", {"text": "a " * 2049}), "4096"),
    "audio-chunk-width-3": (
        raw_event("audio-chunk", {"rate": 16000, "width": 3, "channels": 1}, b"\0" * 6),
        "width",
    ),
    "data-not-an-object": (raw_event("synthesize", b"[1, 2]"), "not a JSON object"),
    "data-infinite-number": (raw_event("ping", b'{"text": 1e999}'), "not JSON"),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str, Path]]:
    """`assistant serve` with Wyoming; its log (stderr) in a file, read by the tests."""
    log = tmp_path_factory.mktemp("wyoming") / "server.log"
    port = free_port()
    with log.open("w") as sink:
        proc, url = start("--wyoming-port", str(port), log=sink)
    try:
        yield port, url, log
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert_clean(log.read_text())


def assert_clean(log: str) -> None:
    """No traceback, unhandled exception or pending-task warning in a server's log."""
    for bad in ("Traceback", "Unhandled exception", "Task was destroyed", "aclose()"):
        assert bad not in log, log


def describe_works(client: RawClient) -> list[Any]:
    """Events up to the ``info`` answering a ``describe`` on ``client``."""
    client.send(raw_event("describe"))
    got = client.until("info")
    assert Info.from_event(got[-1]).tts
    return got


@pytest.mark.parametrize("case", list(BAD_EVENTS))
def test_a_bad_event_gets_an_error_and_the_session_goes_on(
    served: tuple[int, str, Path], case: str
) -> None:
    event, named = BAD_EVENTS[case]
    with RawClient(served[0]) as client:
        client.send(event)
        first = client.until("error")
        assert len(first) == 1, [e.type for e in first]  # nothing spoken, nothing answered
        assert named in Error.from_event(first[0]).text
        assert [e.type for e in describe_works(client)] == ["info"]
    assert_clean(served[2].read_text())


def test_a_header_nested_too_deep_closes_that_connection_with_one_line(
    served: tuple[int, str, Path],
) -> None:
    port, _, log = served
    before = len(log.read_text().splitlines())
    header = b'{"type": "describe", "data": {"x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}}\n"
    with RawClient(port) as client:
        client.send(header)
        assert client.closed()
    lines = log.read_text().splitlines()[before:]
    assert len(lines) == 1 and "nested" in lines[0], lines
    with RawClient(port) as client:
        describe_works(client)
    assert_clean(log.read_text())


def test_a_stream_over_the_text_limit_is_refused_and_still_stopped(
    served: tuple[int, str, Path],
) -> None:
    with RawClient(served[0]) as client:
        client.send(raw_event("synthesize-start", {}))
        client.send(raw_event("synthesize-chunk", {"text": "word " * 900}))  # 4,500 characters
        got = client.until("error")
        assert "4096" in Error.from_event(got[-1]).text
        client.send(raw_event("synthesize-chunk", {"text": "More."}))
        client.send(raw_event("synthesize-stop", {}))
        assert client.until("synthesize-stopped")[-2].type == "audio-stop"
        describe_works(client)


LONG = " ".join(
    f"Sentence number {i} of a long story that one client asked the server to read aloud."
    for i in range(12)
)  # about 1,000 characters: five turns on the voice


def test_a_short_speech_request_goes_before_a_long_synthesis_ends(
    served: tuple[int, str, Path],
) -> None:
    port, url, _ = served

    async def race() -> list[str]:
        done: list[str] = []
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Synthesize(text=LONG).event())
            while not AudioChunk.is_type((await _next(client)).type):
                pass  # the long one holds the voice now

            async def short() -> None:
                async with httpx.AsyncClient(timeout=120) as http:
                    body = {"input": "Hello there.", "response_format": "wav"}
                    answer = await http.post(f"{url}/v1/audio/speech", json=body)
                assert answer.status_code == 200 and len(answer.content) > 10_000
                done.append("short")

            async def long() -> None:
                while (await _next(client)).type != "audio-stop":
                    pass
                done.append("long")

            await asyncio.gather(short(), long())
        return done

    assert asyncio.run(race()) == ["short", "long"]


async def _next(client: AsyncTcpClient) -> Any:
    event = await asyncio.wait_for(client.read_event(), 120)
    assert event is not None
    return event


def test_text_at_the_limit_is_spoken(served: tuple[int, str, Path]) -> None:
    text = "Yes." + " " * 4087 + "Done."  # 4,096 characters, two words (quick to speak)
    with RawClient(served[0]) as client:
        client.send(raw_event("synthesize", {"text": text}))
        got = client.until("audio-stop")
        assert got[0].type == "audio-start" and sum(e.type == "audio-chunk" for e in got) >= 2


def test_shutdown_ends_every_wyoming_session_quietly(tmp_path: Path) -> None:
    """SIGTERM with one client mid-synthesis and one mid-answer: exit 0, no pending tasks."""
    log, port = tmp_path / "server.log", free_port()
    with log.open("w") as sink:
        proc, _ = start("--wyoming-port", str(port), log=sink)
        try:
            speaking, answering = RawClient(port), RawClient(port)
            answering.send(raw_event("transcript", {"text": "Tell me a long story."}))
            answering.until("handled-chunk")  # a conversation is open, its pipeline answering
            speaking.send(raw_event("synthesize", {"text": LONG}))
            speaking.until("audio-chunk")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
            speaking.close()
            answering.close()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert_clean(log.read_text())


def test_raw_events_are_what_the_package_writes() -> None:
    """The helper's bytes read back as the event they stand for (the tests send what they say)."""
    import io

    from wyoming.event import read_event

    event = read_event(io.BytesIO(raw_event("synthesize", {"text": "Hi."}, b"xy")))
    assert event is not None and event.type == "synthesize"
    assert event.data == {"text": "Hi."} and event.payload == b"xy"


def test_the_voices_of_tts_voices_are_offered_by_name_and_language(tmp_path: Path) -> None:
    """tts.voices adds voices to ``info``; each is spoken when asked for, any other refused."""
    joe = next(Path("models/piper-en_US-joe-medium").resolve().glob("*.onnx"))
    german = tmp_path / "de_DE-probe-medium.onnx"  # a second voice file (Joe's, renamed)
    german.symlink_to(joe)
    port = free_port()
    voices = json.dumps({"de": str(german)})
    proc, _ = start("--wyoming-port", str(port), env={"ASSISTANT_TTS__VOICES": voices})
    try:
        with RawClient(port) as client:
            info = Info.from_event(describe_works(client)[-1])
            offered = {v.name: v.languages for v in info.tts[0].voices}
            assert offered == {"piper-en_US-joe-medium": ["en_US"], german.name: ["de"]}
            for voice in ({"name": german.name}, {"language": "de_DE"}, {"language": "en"}):
                client.send(raw_event("synthesize", {"text": "Guten Tag.", "voice": voice}))
                spoken = client.until("audio-stop")
                assert spoken[0].type == "audio-start" and len(spoken) > 2, voice
            client.send(raw_event("synthesize", {"text": "Hi.", "voice": {"name": "nope"}}))
            refusal = Error.from_event(client.until("error")[-1]).text
            assert german.name in refusal and "piper-en_US-joe-medium" in refusal
    finally:
        proc.terminate()
        proc.wait(timeout=10)
