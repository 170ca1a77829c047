"""Reading Wyoming events with limits, and turning their audio into what the models take.

A Wyoming event is a JSON header line, then ``data_length`` bytes of more JSON and
``payload_length`` bytes of payload (audio). The ``wyoming`` package's own reader trusts those
lengths and reads whatever a peer announces; here the header line and both lengths are checked
against ``max_bytes`` first, so a client cannot make the server buffer more than that for one
event, and both JSON parts are parsed only once their nesting is known to be shallow
(json_limits.py). The event types' data is checked in wyoming_events.py; writing is the
package's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import soxr
from wyoming.event import Event

from assistant.server import json_limits
from assistant.server.wyoming_events import BadEvent
from assistant.types import Pcm16


class WireError(Exception):
    """The peer sent something that is not a Wyoming event, or one too large: the stream is lost."""


async def read_event(reader: asyncio.StreamReader, max_bytes: int) -> Event | None:
    """The next event, or None when the peer has closed the connection between events.

    asyncio.IncompleteReadError when it went away in the middle of one; WireError when the
    header is not one (the rest of the stream cannot be read); BadEvent when the data part is
    not a JSON object or nests too deep (the event has been read whole: the stream goes on).
    """
    try:
        line = await reader.readline()
    except (asyncio.LimitOverrunError, ValueError):  # past the stream's line limit
        raise WireError("an event header line is too long") from None
    if not line:
        return None
    kind, data, data_length, payload_length = _header(line)
    if data_length + payload_length > max_bytes:
        raise WireError(
            f"a {kind!r} event of {data_length + payload_length} bytes; at most {max_bytes} "
            "(server.wyoming_max_event_bytes)"
        )
    extra = await reader.readexactly(data_length) if data_length else b""
    payload = await reader.readexactly(payload_length) if payload_length else None
    if extra:
        data.update(_data_part(kind, extra))
    return Event(type=kind, data=data, payload=payload)


def _header(line: bytes) -> tuple[str, dict[str, Any], int, int]:
    """Type, data, data length and payload length of a header line (WireError if not one)."""
    not_header = "not a Wyoming event header (a JSON object with a type)"
    try:
        header = json_limits.loads(line)
    except json_limits.TooDeep as exc:
        raise WireError(f"an event header: {exc}") from None
    except ValueError:
        raise WireError(not_header) from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise WireError(not_header)
    kind, data = header["type"], header.get("data") or {}
    lengths = [header.get("data_length") or 0, header.get("payload_length") or 0]
    if not isinstance(data, dict) or any(
        not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in lengths
    ):
        raise WireError(f"{not_header[:-1]}, a data object and lengths in bytes)")
    return kind[:128], data, lengths[0], lengths[1]


def _data_part(kind: str, raw: bytes) -> dict[str, Any]:
    try:
        extra = json_limits.loads(raw)
    except json_limits.TooDeep as exc:
        raise BadEvent(f"the data of a {kind!r} event: {exc}") from None
    except ValueError:
        raise BadEvent(f"the data of a {kind!r} event is not JSON") from None
    if not isinstance(extra, dict):
        raise BadEvent(f"the data of a {kind!r} event is not a JSON object")
    return extra


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
