"""Every voice door shares one session limit and one set of turn metrics (doors/base.py).

A real `assistant serve` with ``server.max_voice_sessions = 1`` and Wyoming beside HTTP: a
Wyoming session in progress makes a ``/ws/voice`` handshake wait and then refuse, and the other
way round; a Wyoming ``handle`` turn shows in /metrics' voice turn counter.
"""

import asyncio
import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled
from wyoming.info import Describe
from wyoming.tts import Synthesize

from tests.serving import free_port, start


@pytest.fixture(scope="module")
def one_place() -> Iterator[tuple[int, str]]:
    """`assistant serve` with Wyoming and room for one voice session; its Wyoming port and URL."""
    port = free_port()
    env = {"ASSISTANT_LLM__PRESET": "greedy", "ASSISTANT_SERVER__MAX_VOICE_SESSIONS": "1"}
    proc, url = start("--wyoming-port", str(port), env=env)
    try:
        yield port, url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def voice_turns(url: str) -> float:
    """``assistant_voice_turns_total`` from /metrics."""
    found = re.search(
        r"^assistant_voice_turns_total (\S+)$", httpx.get(f"{url}/metrics").text, re.M
    )
    assert found, "no voice turn counter in /metrics"
    return float(found.group(1))


async def until(client: AsyncTcpClient, kind: str) -> list[Event]:
    """Read events up to one of type ``kind``."""
    got: list[Event] = []
    while not got or got[-1].type != kind:
        event = await asyncio.wait_for(client.read_event(), 60)
        assert event is not None, f"connection closed after {[e.type for e in got]}"
        got.append(event)
    return got


def test_a_wyoming_session_holds_the_place_of_a_voice_socket(one_place: tuple[int, str]) -> None:
    port, url = one_place
    ws_url = url.replace("http", "ws") + "/ws/voice"
    before = voice_turns(url)

    async def wyoming_then_voice() -> tuple[str, float, int | None, str]:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Transcript(text="What is the capital of France?").event())
            answer = Handled.from_event((await until(client, "handled"))[-1]).text or ""
            started = time.monotonic()
            refused = await asyncio.to_thread(_refusal, ws_url)
            waited = time.monotonic() - started
        closing = refused.rcvd if refused else None
        return answer, waited, closing.code if closing else None, closing.reason if closing else ""

    answer, waited, code, reason = asyncio.run(wyoming_then_voice())
    assert answer.strip()
    assert code == 1013 and "too many voice sessions" in reason
    assert waited >= 1.5  # the grace wait for a place to come back, then the refusal
    assert voice_turns(url) == before + 1  # the Wyoming turn counts as the sockets' turns do
    with connect(ws_url) as voice:  # the Wyoming client has gone: its place is free again
        assert json.loads(voice.recv(timeout=30))["type"] == "ready"


def test_a_voice_socket_holds_the_place_of_a_wyoming_session(one_place: tuple[int, str]) -> None:
    port, url = one_place
    ws_url = url.replace("http", "ws") + "/ws/voice"

    async def wyoming() -> list[Event]:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Describe().event())  # asks nothing of a model: always served
            got = await until(client, "info")
            await client.write_event(Synthesize(text="Hello there.").event())
            return got + await until(client, "error")

    with connect(ws_url) as voice:
        assert json.loads(voice.recv(timeout=30))["type"] == "ready"
        got = asyncio.run(wyoming())
    error = Error.from_event(got[-1])
    assert error.code == "too_many_sessions" and "too many voice sessions" in error.text
    assert all(event.type != "audio-start" for event in got)

    async def speak() -> list[Event]:  # the socket has gone: Wyoming is served again
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Synthesize(text="Hello there.").event())
            return await until(client, "audio-stop")

    assert asyncio.run(speak())[0].type == "audio-start"


def _refusal(url: str) -> ConnectionClosed | None:
    """How the server ends a /ws/voice handshake it has no place for (None: it was admitted)."""
    with connect(url) as socket:
        try:
            message = socket.recv(timeout=30)
        except ConnectionClosed as closed:
            return closed
    assert json.loads(message)["type"] != "ready", "admitted without a free place"
    return None
