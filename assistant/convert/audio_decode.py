"""Decode any audio PyAV can read (any container, codec, rate, channels) to mono int16 PCM."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np

from assistant.errors import InputError
from assistant.interfaces import Pcm16

# Decoded audio shorter than this share of what the container declares means a cut-off file.
_TRUNCATED_BELOW = 0.9


def decode_audio(path: Path, sample_rate: int = 16000) -> Pcm16:
    """Decode the first audio stream of ``path`` to mono int16 at ``sample_rate``.

    Raises InputError with one line naming the cause for a missing, empty, unreadable,
    truncated or audio-less file.
    """
    _check_file(path)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise InputError(f"{path} has no audio stream; give a file with sound in it")
            stream = container.streams.audio[0]
            declared = _declared_seconds(container, stream, path)
            pcm = _decode_stream(container, stream, sample_rate)
    except InputError:
        raise
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a readable audio file ({_reason(exc)})") from None
    if declared and len(pcm) < _TRUNCATED_BELOW * declared * sample_rate:
        raise InputError(
            f"{path} is truncated ({len(pcm) / sample_rate:.2f} s decoded of {declared:.2f} s "
            "declared); re-export or re-download it"
        )
    if pcm.size == 0:
        raise InputError(f"{path} holds no audio samples")
    return pcm


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"input file {path} not found; check the path")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give an audio file")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")


def _decode_stream(
    container: av.container.InputContainer, stream: av.AudioStream, sample_rate: int
) -> Pcm16:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    parts: list[Pcm16] = []
    for frame in container.decode(stream):
        parts.extend(_samples(r) for r in resampler.resample(frame))
    parts.extend(_samples(r) for r in resampler.resample(None))
    return np.concatenate(parts) if parts else np.zeros(0, np.int16)


def _samples(frame: av.AudioFrame) -> Pcm16:
    return frame.to_ndarray().reshape(-1).astype(np.int16, copy=False)


def _declared_seconds(
    container: av.container.InputContainer, stream: av.AudioStream, path: Path
) -> float:
    """How long the file says it is (0 when it does not say)."""
    if container.format.name == "wav":
        # FFmpeg derives a WAV's duration from the file size; the header tells the truth.
        return _wav_header_seconds(path)
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _wav_header_seconds(path: Path) -> float:
    try:
        with wave.open(str(path), "rb") as w:
            size = w.getnframes() * w.getsampwidth() * w.getnchannels()
            # streaming writers leave the size at 0 or 0xFFFFFFFF: that declares nothing
            return 0.0 if size == 0 or size >= 0xFFFFFF00 else w.getnframes() / w.getframerate()
    except (wave.Error, EOFError, ZeroDivisionError):
        return 0.0  # not plain PCM (float, extensible): no declared length to check against


def _reason(exc: Exception) -> str:
    text = str(exc).split(":")[-1].strip() if isinstance(exc, av.error.FFmpegError) else str(exc)
    return text or type(exc).__name__
