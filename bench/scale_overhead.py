"""The cost of the project's remote speech classes over calling the same server directly.

Part of ``make bench-scale``. The same inputs go to the same loopback server two ways, one
after the other, alternating which goes first:
- through ``load_stt`` / ``load_tts`` with the remote backend (the classes a turn uses: their
  connection pool, limits, retry wrapper; recognition also encodes the float audio as WAV, which
  the direct client is given ready-made, so the ratio is if anything against the classes);
- with a bare client: httpx on ``/audio/transcriptions`` and ``/audio/speech`` (openai), or the
  ``wyoming`` package's client (transcribe, synthesize events).
Recognition: the dev set's human questions, the whole call timed. Synthesis: short and long
replies (bench/wyoming_side.py's), time to the first audio and to the last.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import httpx
import numpy as np

from assistant import config
from assistant.models.loaders import load_stt, load_tts, store
from assistant.models.remote_role import Remote
from bench.devset import Turn
from bench.wyoming_side import REPLIES
from tests import media

CHUNK_BYTES = 3200  # 100 ms of 16 kHz 16-bit audio per Wyoming audio-chunk


def wav_bytes(pcm: np.ndarray) -> bytes:
    """16 kHz mono 16-bit WAV, as the project's OpenAI client uploads."""
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue()


class RawOpenAI:
    """The server's OpenAI audio API with httpx and nothing else."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=120)

    def transcribe(self, pcm: np.ndarray, wav: bytes) -> str:
        """The transcript of ``wav`` (``pcm`` as a WAV file)."""
        form = {"model": "whisper-1", "response_format": "json", "language": "en"}
        answer = self.http.post("/audio/transcriptions", files={"file": ("a.wav", wav)}, data=form)
        answer.raise_for_status()
        return str(answer.json()["text"])

    def synthesize(self, text: str) -> Iterator[bytes]:
        """The speech of ``text`` as it streams in."""
        body = {"model": "tts-1", "input": text, "voice": "alloy", "response_format": "pcm"}
        with self.http.stream("POST", "/audio/speech", json=body) as answer:
            answer.raise_for_status()
            yield from answer.iter_bytes()

    def close(self) -> None:
        """Close the connections."""
        self.http.close()


class RawWyoming:
    """Wyoming servers with the ``wyoming`` package's client and nothing else.

    Synthesis sends what the project's class sends (the streamed form where the server's info
    offers it, with the whole ``synthesize`` too, as the protocol asks), so the servers do the
    same work both ways.
    """

    def __init__(self, stt_url: str, tts_url: str, voice: str) -> None:
        self.stt = _host_port(stt_url)
        self.tts = _host_port(tts_url)
        self.voice = voice
        self.loop = asyncio.new_event_loop()
        self.streams = self.loop.run_until_complete(self._streams())

    async def _streams(self) -> bool:
        from wyoming.client import AsyncTcpClient
        from wyoming.info import Describe, Info

        async with AsyncTcpClient(*self.tts) as client:
            await client.write_event(Describe().event())
            while (event := await client.read_event()) is not None:
                if Info.is_type(event.type):
                    return any(p.supports_synthesize_streaming for p in Info.from_event(event).tts)
        raise RuntimeError("the Wyoming voice server did not describe itself")

    def transcribe(self, pcm: np.ndarray, wav: bytes) -> str:
        """The transcript of ``pcm`` (16 kHz), sent in 100 ms audio chunks."""
        return self.loop.run_until_complete(self._transcribe(pcm.astype("<i2").tobytes()))

    async def _transcribe(self, data: bytes) -> str:
        from wyoming.asr import Transcribe
        from wyoming.audio import AudioChunk, AudioStart, AudioStop
        from wyoming.client import AsyncTcpClient

        fmt = {"rate": 16000, "width": 2, "channels": 1}
        async with AsyncTcpClient(*self.stt) as client:
            await client.write_event(Transcribe(language="en").event())
            await client.write_event(AudioStart(**fmt).event())
            for i in range(0, len(data), CHUNK_BYTES):
                await client.write_event(AudioChunk(**fmt, audio=data[i : i + CHUNK_BYTES]).event())
            await client.write_event(AudioStop().event())
            while (event := await client.read_event()) is not None:
                if event.type == "transcript":
                    return str(event.data.get("text", ""))
        raise RuntimeError("the Wyoming server sent no transcript")

    def synthesize(self, text: str) -> Iterator[bytes]:
        """The speech of ``text``, chunk by chunk as it arrives."""
        from wyoming.client import AsyncTcpClient
        from wyoming.tts import (
            Synthesize,
            SynthesizeChunk,
            SynthesizeStart,
            SynthesizeStop,
            SynthesizeVoice,
        )

        voice = SynthesizeVoice(name=self.voice) if self.voice else None
        request = [Synthesize(text=text, voice=voice).event()]
        if self.streams:
            start, chunk = SynthesizeStart(voice=voice), SynthesizeChunk(text=text)
            request = [start.event(), chunk.event(), *request, SynthesizeStop().event()]
        end = "synthesize-stopped" if self.streams else "audio-stop"
        client = AsyncTcpClient(*self.tts)
        run = self.loop.run_until_complete
        run(client.connect())
        try:
            for event in request:
                run(client.write_event(event))
            while (answer := run(client.read_event())) is not None:
                if answer.type == "audio-chunk":
                    yield answer.payload or b""
                elif answer.type == end:
                    return
        finally:
            run(client.disconnect())

    def close(self) -> None:
        """Close the event loop."""
        self.loop.close()


def _host_port(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("tcp://").rpartition(":")
    return host, int(port)


Audio = tuple[np.ndarray, bytes, np.ndarray]  # 16 kHz int16, as WAV, as float32 in [-1, 1]
Stream = Callable[[str], Iterator[Any]]  # text -> its audio, piece by piece


def timed_stream(stream: Stream, text: str) -> tuple[float, float]:
    """Milliseconds to the first piece of ``stream(text)`` and to its end."""
    started = time.perf_counter()
    first = None
    for _ in stream(text):
        first = first or time.perf_counter()
    end = time.perf_counter()
    return ((first or end) - started) * 1000, (end - started) * 1000


def measure(
    settings: config.Settings, raw: RawOpenAI | RawWyoming, questions: list[Turn], rounds: int
) -> dict[str, Any]:
    """Both ways, interleaved, ``rounds`` times over the inputs; p50s, best times and ratios."""
    stt, tts = load_stt(settings, store(settings)), load_tts(settings, store(settings))
    audio: list[Audio] = []
    for question in questions:
        pcm, _ = media.read_wav(question.path)
        audio.append((pcm, wav_bytes(pcm), pcm.astype(np.float32) / 32768))
    texts = [t for kind in REPLIES.values() for t in kind]
    times: dict[str, list[float]] = {k: [] for k in ("stt", "stt_raw", "tts", "tts_raw")}
    firsts: dict[str, list[float]] = {"tts": [], "tts_raw": []}
    calls: dict[str, Callable[[Audio], object]] = {
        "stt": lambda a: stt.transcribe(a[2]),
        "stt_raw": lambda a: raw.transcribe(a[0], a[1]),
    }
    streams: dict[str, Stream] = {"tts": tts.synthesize, "tts_raw": raw.synthesize}
    for call in calls.values():  # warm: a first connection and decode each way
        call(audio[0])
    for stream in streams.values():
        timed_stream(stream, texts[0])
    for r in range(rounds):
        for i, a in enumerate(audio):
            for name in list(calls)[:: 1 if (r + i) % 2 == 0 else -1]:
                started = time.perf_counter()
                calls[name](a)
                times[name].append((time.perf_counter() - started) * 1000)
        for i, text in enumerate(texts):
            for name in list(streams)[:: 1 if (r + i) % 2 == 0 else -1]:
                first, total = timed_stream(streams[name], text)
                firsts[name].append(first)
                times[name].append(total)
    for model in (stt, tts):
        cast(Remote, model).close()  # a remote backend: its connections
    return figures(times, firsts)


def figures(times: dict[str, list[float]], firsts: dict[str, list[float]]) -> dict[str, Any]:
    """p50 and best of each, and the ratios classes / direct (goal <= 1.05x)."""
    med = statistics.median
    out: dict[str, Any] = {"calls": len(times["stt"]) + len(times["tts"])}
    for role in ("stt", "tts"):
        ours, bare = times[role], times[f"{role}_raw"]
        out[role] = {
            "p50_ms": med(ours),
            "raw_p50_ms": med(bare),
            "best_ms": min(ours),
            "raw_best_ms": min(bare),
            "ratio_p50": med(ours) / med(bare),
            "ratio_best": min(ours) / min(bare),
        }
    first, bare_first = firsts["tts"], firsts["tts_raw"]
    out["tts"] |= {
        "first_audio_p50_ms": med(first),
        "raw_first_audio_p50_ms": med(bare_first),
        "first_audio_ratio_p50": med(first) / med(bare_first),
    }
    return out


def raw_client(speech: str, settings: config.Settings) -> RawOpenAI | RawWyoming:
    """The bare client of the speech servers ``settings`` point at."""
    if speech == "openai":
        return RawOpenAI(settings.stt.url)
    return RawWyoming(settings.stt.url, settings.tts.url, settings.tts.voice)
