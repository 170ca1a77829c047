"""First reply audio after the end of speech, as a client of /ws/voice and of /v1/realtime sees it.

Part of ``make bench-server``. Piper speaks each question; a client streams it at real-time
pace (100 ms messages, then silence, as a microphone would) and times from the moment the
last sample of speech was sent to the first reply audio it receives: a binary message on
/ws/voice (16 kHz PCM in), a ``response.output_audio.delta`` on /v1/realtime (24 kHz base64
PCM in). The two alternate question by question, on the same server, in the same run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import time
from typing import Any

import numpy as np
from websockets.asyncio.client import connect

from assistant import config
from assistant.models.loaders import load_tts, store
from tests import media

QUESTIONS = [
    "What is the capital of France?",
    "How many legs does a spider have?",
    "Why is the sky blue?",
    "Who wrote Romeo and Juliet?",
    "How do I make a cup of tea?",
]
STEP_S = 0.1


def spoken(rate: int) -> list[tuple[np.ndarray, float]]:
    """Each question with silence around it, and where its speech ends (seconds)."""
    tts = load_tts(config.load(), store(config.load()))
    out = []
    for text in QUESTIONS:
        speech = media.speech(tts, text, rate)
        lead = media.silence(0.4, rate)
        out.append(
            (np.concatenate([lead, speech, media.silence(3.0, rate)]), 0.4 + len(speech) / rate)
        )
    return out


async def _pace(send: Any, pcm: np.ndarray, rate: int, end_s: float) -> float:
    """Send at real-time pace; returns the monotonic time the end of speech went out."""
    step, began, speech_end = int(rate * STEP_S), time.monotonic(), 0.0
    for i, at in enumerate(range(0, len(pcm), step)):
        await send(pcm[at : at + step])
        if not speech_end and (at + step) / rate >= end_s:
            speech_end = time.monotonic()
        await asyncio.sleep(max(0.0, began + (i + 1) * STEP_S - time.monotonic()))
    return speech_end


async def ws_voice(url: str, pcm: np.ndarray, end_s: float) -> float:
    """Milliseconds from the end of speech to the first reply audio on /ws/voice."""
    async with connect(url.replace("http", "ws") + "/ws/voice", max_size=None) as socket:
        await socket.recv()  # ready

        async def send(piece: np.ndarray) -> None:
            await socket.send(piece.astype("<i2").tobytes())

        sending = asyncio.ensure_future(_pace(send, pcm, 16000, end_s))
        while not isinstance(await socket.recv(), bytes):
            pass
        arrived = time.monotonic()
        return (arrived - await sending) * 1000


async def realtime(url: str, pcm: np.ndarray, end_s: float) -> float:
    """Milliseconds from the end of speech to the first ``response.output_audio.delta``."""
    async with connect(url.replace("http", "ws") + "/v1/realtime?model=x", max_size=None) as socket:
        await socket.recv()  # session.created

        async def send(piece: np.ndarray) -> None:
            data = base64.b64encode(piece.astype("<i2").tobytes()).decode()
            await socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": data}))

        sending = asyncio.ensure_future(_pace(send, pcm, 24000, end_s))
        while json.loads(await socket.recv())["type"] != "response.output_audio.delta":
            pass
        arrived = time.monotonic()
        return (arrived - await sending) * 1000


def first_audio(url: str, rounds: int = 2) -> dict[str, Any]:
    """Both endpoints, alternating, ``rounds`` times over the questions."""
    at16, at24 = spoken(16000), spoken(24000)
    times: dict[str, list[float]] = {"ws_voice": [], "realtime": []}
    for _ in range(rounds):
        for (pcm16, end16), (pcm24, end24) in zip(at16, at24, strict=True):
            times["ws_voice"].append(asyncio.run(ws_voice(url, pcm16, end16)))
            times["realtime"].append(asyncio.run(realtime(url, pcm24, end24)))
    p50 = {name: statistics.median(values) for name, values in times.items()}
    return {
        "first_audio_p50_ms": p50,
        "first_audio_ms": times,
        "realtime_vs_ws_voice": p50["realtime"] / p50["ws_voice"],
    }
