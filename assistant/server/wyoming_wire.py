"""Reading Wyoming events with limits, and turning their audio into what the models take.

A Wyoming event is a JSON header line, then ``data_length`` bytes of more JSON and
``payload_length`` bytes of payload (audio). The ``wyoming`` package's own reader trusts those
lengths and reads whatever a peer announces; here the header line and both lengths are checked
against ``max_bytes`` first, so a client cannot make the server buffer more than that for one
event. Everything else (the event types, writing) is the package's.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import soxr
from wyoming.event import Event

from assistant.models.interfaces import Pcm16


class WireError(Exception):
    """The peer sent something that is not a Wyoming event, or one too large."""


async def read_event(reader: asyncio.StreamReader, max_bytes: int) -> Event | None:
    """The next event, or None when the peer has closed the connection between events.

    asyncio.IncompleteReadError when it went away in the middle of one.
    """
    try:
        line = await reader.readline()
    except (asyncio.LimitOverrunError, ValueError):  # past the stream's line limit
        raise WireError("an event header line is too long") from None
    if not line:
        return None
    try:
        header = json.loads(line)
        kind = header["type"]
        data = header.get("data") or {}
        data_length = int(header.get("data_length") or 0)
        payload_length = int(header.get("payload_length") or 0)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise WireError("not a Wyoming event header (a JSON object with a type)") from None
    if not isinstance(kind, str) or not isinstance(data, dict):
        raise WireError("not a Wyoming event header (a JSON object with a type)")
    if min(data_length, payload_length) < 0 or data_length + payload_length > max_bytes:
        raise WireError(
            f"a {kind!r} event of {data_length + payload_length} bytes; at most {max_bytes} "
            "(server.wyoming_max_event_bytes)"
        )
    try:
        if data_length:
            extra = json.loads(await reader.readexactly(data_length))
            if not isinstance(extra, dict):
                raise WireError(f"the data of a {kind!r} event is not a JSON object")
            data.update(extra)
        payload = await reader.readexactly(payload_length) if payload_length else None
    except ValueError:
        raise WireError(f"the data of a {kind!r} event is not JSON") from None
    return Event(type=kind, data=data, payload=payload)


class AudioIn:
    """Audio chunks of any rate, width and channel count, turned into 16 kHz mono int16.

    With ``max_s`` None (a wake word stream, which may never end) nothing is kept.
    """

    def __init__(self, rate: int, width: int, channels: int, max_s: float | None) -> None:
        if rate < 1000 or rate > 384000 or width not in (1, 2, 4) or not 1 <= channels <= 32:
            raise WireError(
                f"audio of {rate} Hz, {width}-byte samples, {channels} channels cannot be read"
            )
        self.rate, self.width, self.channels, self.max_s = rate, width, channels, max_s
        self._resampler = soxr.ResampleStream(rate, 16000, 1, dtype="float32")
        self._parts: list[Pcm16] = []
        self._frames = 0
        self._rest = b""  # a partial frame carried to the next chunk

    def add(self, payload: bytes) -> Pcm16:
        """Take one chunk; returns its audio at 16 kHz (WireError past ``max_s`` seconds)."""
        frame = self.width * self.channels
        data = self._rest + payload
        usable = len(data) - len(data) % frame
        self._rest = data[usable:]
        samples = _to_float(data[:usable], self.width).reshape(-1, self.channels).mean(axis=1)
        self._frames += len(samples)
        if self.max_s is not None and self._frames / self.rate > self.max_s:
            raise WireError(f"the audio lasts over {self.max_s:g} s (server.max_audio_s)")
        return self._keep(self._resampler.resample_chunk(samples.astype(np.float32)))

    def pcm16k(self) -> Pcm16:
        """Everything, mono at 16 kHz (the resampler's tail included: the stream is over)."""
        self._keep(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        return np.concatenate(self._parts) if self._parts else np.zeros(0, np.int16)

    def _keep(self, audio: np.ndarray) -> Pcm16:
        pcm: Pcm16 = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
        if pcm.size and self.max_s is not None:
            self._parts.append(pcm)
        return pcm


def _to_float(data: bytes, width: int) -> np.ndarray:
    if width == 1:  # unsigned 8-bit, as WAV has it
        return (np.frombuffer(data, np.uint8).astype(np.float32) - 128) / 128
    kind = np.int16 if width == 2 else np.int32
    scale = float(np.iinfo(kind).max) + 1
    return np.frombuffer(data, f"<{np.dtype(kind).str[1:]}").astype(np.float32) / scale
