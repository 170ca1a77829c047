"""Real-time /ws/voice sessions on loopback, each one person asking the dev set's questions.

Part of ``make bench-scale``. A session is one WebSocket that streams 16 kHz PCM at real-time pace
from its start to its end, as a microphone does: silence, one of the dev set's human recordings
(bench/devset.py, ``clean``: room tone, the speech, three seconds of room tone), silence until the
reply has been played (its ``turn`` message: the server paces reply audio as it is played), a
think time, the next question. Voice to voice is timed as bench/voice_sockets.py times it: from
the moment the last sample of speech went out to the first reply audio of a new turn; a reply that
began before the end of speech is an early one (a cut-off), left out of the percentiles. Sessions
start a little apart, as people do not ask in step; the CPU of the servers is read over the whole
level (ramp and think times included: what a real-time session costs on average).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from assistant.doors.socket_audio import HEADER
from bench.devset import Turn
from bench.scale_servers import CpuMeter
from tests import media

RATE = 16000
STEP_S = 0.1  # one message of microphone audio
LEAD_S = 1.0  # silence before the first question (the server measures its noise floor)
STAGGER_S = 0.9  # session i starts this much after session i - 1
THINK_S = (1.0, 3.0)  # think time after a reply, drawn per turn (seeded)
TURN_WAIT_S = 30.0  # no reply by then: none
PLAYED_WAIT_S = 60.0  # a reply not played to its end by then is left


@dataclass
class TurnResult:
    """One question of one session."""

    session: int
    question: str  # the dev set turn's id
    v2v_ms: float | None  # end of speech to the first reply audio; None: no reply
    server_v2v_ms: float | None  # the server's own figure, from its ``turn`` message
    early: bool  # the reply began before the end of speech
    transcript: str
    note: str = ""  # without a reply: what the server did say (its final transcripts, replies)


class Heard:
    """What a session received: first audio per turn id, turn reports, errors."""

    def __init__(self) -> None:
        self.first_audio: dict[int, float] = {}  # turn id -> monotonic arrival
        self.reports: dict[int, dict[str, Any]] = {}  # turn id -> the ``turn`` message
        self.said: list[tuple[float, str]] = []  # arrival, and a final transcript, reply or merge
        self.errors: list[str] = []

    async def read(self, socket: ClientConnection) -> None:
        """Until the connection closes."""
        async for item in socket:
            if isinstance(item, bytes):
                turn_id, _ = HEADER.unpack_from(item)
                self.first_audio.setdefault(turn_id, time.monotonic())
                continue
            message = json.loads(item)
            if message["type"] == "turn":
                self.reports[int(message["turn"])] = message
            elif message["type"] == "error":
                self.errors.append(str(message.get("error", message)))
                self.said.append((time.monotonic(), f"error: {message.get('error')}"))
            elif message["type"] in ("reply", "merged", "interrupted") or message.get("final"):
                text = message.get("text", "")
                self.said.append((time.monotonic(), f"{message['type']}: {text}".strip()))


class Mic:
    """16 kHz PCM sent at real-time pace: a piece every ``STEP_S``, silence between questions."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.began = time.monotonic()
        self.sent = 0  # pieces so far
        self.step = int(RATE * STEP_S)

    async def _next(self, piece: np.ndarray) -> None:
        await self.socket.send(piece.astype("<i2").tobytes())
        self.sent += 1
        await asyncio.sleep(max(0.0, self.began + self.sent * STEP_S - time.monotonic()))

    async def say(self, pcm: np.ndarray, end_s: float) -> float:
        """Send ``pcm``; the monotonic time the piece holding its end of speech went out."""
        speech_end = 0.0
        for at in range(0, len(pcm), self.step):
            piece = pcm[at : at + self.step]
            await self._next(np.pad(piece, (0, self.step - len(piece))))
            if not speech_end and (at + self.step) / RATE >= end_s:
                speech_end = time.monotonic()
        return speech_end

    async def quiet(self, seconds: float, done: Callable[[], bool] = lambda: False) -> bool:
        """Silence until ``done()`` or ``seconds`` have passed; whether ``done()`` held."""
        deadline = time.monotonic() + seconds
        silence = np.zeros(self.step, np.int16)
        while not done() and time.monotonic() < deadline:
            await self._next(silence)
        return done()


async def ask(mic: Mic, heard: Heard, index: int, question: Turn) -> TurnResult:
    """One question, until its reply has been played."""
    before = set(heard.first_audio)

    def new() -> list[int]:
        return sorted(t for t in heard.first_audio if t not in before)

    pcm, _ = media.read_wav(question.path)
    began = time.monotonic()
    speech_end = await mic.say(pcm, question.end)
    if not await mic.quiet(TURN_WAIT_S, lambda: bool(new())):
        note = "; ".join(text for at, text in heard.said if at >= began) or "nothing"
        return TurnResult(index, question.id, None, None, False, "", note)
    first = new()[0]
    v2v = (heard.first_audio[first] - speech_end) * 1000
    await mic.quiet(PLAYED_WAIT_S, lambda: new()[-1] in heard.reports)
    report = heard.reports.get(first, {})
    server = report.get("timings_ms", {}).get("voice_to_voice")
    early = v2v < 0
    return TurnResult(
        index, question.id, None if early else v2v, server, early, report.get("transcript", "")
    )


async def session(url: str, index: int, plan: list[Turn], seed: int) -> list[TurnResult]:
    """One person's conversation: ``plan``'s questions, in one WebSocket."""
    think = random.Random(seed * 1000 + index)
    await asyncio.sleep(index * STAGGER_S)
    address = url.replace("http", "ws") + "/ws/voice"
    async with connect(address, max_size=None, open_timeout=120) as socket:
        ready = json.loads(await socket.recv())
        if ready.get("type") != "ready":
            raise RuntimeError(f"/ws/voice refused the session: {ready}")
        heard = Heard()
        reader = asyncio.ensure_future(heard.read(socket))
        mic = Mic(socket)
        await mic.quiet(LEAD_S)
        results = []
        for question in plan:
            results.append(await ask(mic, heard, index, question))
            await mic.quiet(think.uniform(*THINK_S))
        reader.cancel()
    for error in heard.errors:
        print(f"session {index}: error {error}", file=sys.stderr)
    for result in results:
        if result.note:
            print(f"session {index}, {result.question}: no reply ({result.note})", file=sys.stderr)
    return results


async def _all(url: str, plans: list[list[Turn]], seed: int) -> list[TurnResult]:
    done = await asyncio.gather(*(session(url, i, p, seed) for i, p in enumerate(plans)))
    return [r for results in done for r in results]


def plans(questions: list[Turn], sessions: int, turns: int) -> list[list[Turn]]:
    """Each session's questions: the dev set in turn, so sessions ask different ones."""
    return [
        [questions[(i * turns + k) % len(questions)] for k in range(turns)] for i in range(sessions)
    ]


def warm(url: str, questions: list[Turn]) -> None:
    """One question answered before measuring: a server loads its models on first use."""
    asyncio.run(_all(url, [questions[:1]], 0))


def level(
    url: str, sessions: int, turns: int, questions: list[Turn], meter: CpuMeter
) -> dict[str, Any]:
    """``sessions`` sessions at once, ``turns`` questions each: voice to voice and CPU."""
    meter.start()
    results = asyncio.run(_all(url, plans(questions, sessions, turns), seed=sessions))
    cpu = meter.stop()
    wall = cpu.pop("wall_s")
    return summary(sessions, results) | {
        "wall_s": round(wall, 1),
        # the machine's 1-minute load at the end: other work running beside the level
        "load_average": round(os.getloadavg()[0], 2),
        "cpu_cores": cpu,
        "cpu_cores_per_session": {name: cores / sessions for name, cores in cpu.items()},
    }


def idle(meter: CpuMeter, seconds: float = 5.0) -> dict[str, float]:
    """Cores used with no session open, after the warm-up: what the processes cost by themselves."""
    meter.start()
    time.sleep(seconds)
    used = meter.stop()
    used.pop("wall_s")
    return used


def pct(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values``, None when there are none."""
    return float(np.percentile(values, q * 100)) if values else None


def summary(sessions: int, results: list[TurnResult]) -> dict[str, Any]:
    """Percentiles and counts of one level's turns."""
    v2v = [r.v2v_ms for r in results if r.v2v_ms is not None]
    server = [r.server_v2v_ms for r in results if r.server_v2v_ms is not None and not r.early]
    return {
        "sessions": sessions,
        "turns": len(results),
        "answered": len(v2v),
        "early": sum(r.early for r in results),
        "none": sum(r.v2v_ms is None and not r.early for r in results),
        "v2v_p50_ms": pct(v2v, 0.5),
        "v2v_p95_ms": pct(v2v, 0.95),
        "server_v2v_p50_ms": statistics.median(server) if server else None,
        "results": [asdict(r) for r in results],
    }
