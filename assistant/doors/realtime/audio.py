"""Audio of the Realtime API: base64 PCM at 24 kHz, or G.711 (mu-law, A-law) at 8 kHz.

Input is decoded to the 16 kHz the pipeline hears and output encoded from the voice's rate,
streaming (soxr keeps each stream's filter state, so chunk edges do not click); G.711 goes
through PyAV's own codecs rather than hand-written tables.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import av
import numpy as np

from assistant.convert.resample import StreamResampler
from assistant.errors import UserError
from assistant.types import Pcm16

RATES = {"audio/pcm": 24000, "audio/pcmu": 8000, "audio/pcma": 8000}
_CODECS = {"audio/pcmu": "pcm_mulaw", "audio/pcma": "pcm_alaw"}
PIPELINE_RATE = 16000


def audio_format(value: Any) -> str:
    """The format type of an ``audio.input.format`` / ``audio.output.format`` object.

    UserError for anything else, or for a PCM rate other than 24 kHz.
    """
    kind = value.get("type") if isinstance(value, dict) else None
    if not isinstance(kind, str) or kind not in RATES:  # a list or an object cannot be looked up
        raise UserError(f"audio formats are {{'type': {' | '.join(map(repr, RATES))}}}")
    rate = value.get("rate", RATES[kind])
    if rate != RATES[kind]:
        raise UserError(f"{kind} is supported at {RATES[kind]} Hz only, not {rate}")
    return kind


def format_json(kind: str) -> dict[str, Any]:
    """How a format is described in the session."""
    return {"type": kind, "rate": RATES[kind]} if kind == "audio/pcm" else {"type": kind}


def _codec(name: str, mode: str) -> Any:
    codec: Any = av.CodecContext.create(name, mode)  # type: ignore[call-overload]
    codec.sample_rate, codec.layout = 8000, "mono"
    if mode == "w":
        codec.format = "s16"
    return codec


class AudioIn:
    """Client audio (base64, in the session's input format) to 16 kHz samples."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._codec = _codec(_CODECS[kind], "r") if kind in _CODECS else None
        self._resampler = StreamResampler(RATES[kind], PIPELINE_RATE)

    def decode(self, data: str) -> Pcm16:
        """Samples of one ``input_audio_buffer.append``; UserError for bad base64."""
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise UserError("'audio' must be base64") from None
        if self._codec is not None:
            frames = self._codec.decode(av.Packet(raw)) if raw else []
            pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in frames] or [np.zeros(0)])
        else:
            if len(raw) % 2:
                raise UserError("audio/pcm must hold whole 16-bit samples")
            pcm = np.frombuffer(raw, "<i2")
        return self._resampler.process(pcm.astype(np.int16))


class AudioOut:
    """Reply audio at the voice's rate to base64 in the session's output format."""

    def __init__(self, kind: str, rate: int) -> None:
        self.kind = kind
        self._codec = _codec(_CODECS[kind], "w") if kind in _CODECS else None
        self._resampler = StreamResampler(rate, RATES[kind])

    def encode(self, pcm: Pcm16) -> str:
        """Base64 of ``pcm`` converted to the output format."""
        pcm = self._resampler.process(pcm.astype(np.int16))
        if self._codec is None:
            return base64.b64encode(pcm.astype("<i2").tobytes()).decode("ascii")
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 8000
        packets = self._codec.encode(frame) if pcm.size else []
        return base64.b64encode(b"".join(bytes(p) for p in packets)).decode("ascii")
