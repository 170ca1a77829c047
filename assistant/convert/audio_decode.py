"""Decode any audio PyAV can read (any container, codec, rate, channels) to PCM samples."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
import numpy.typing as npt

from assistant.errors import InputError
from assistant.types import Pcm16

# Decoded audio shorter than this share of what the container declares means a cut-off file.
_TRUNCATED_BELOW = 0.9
# Containers whose header states the real duration (others estimate it from the bit rate).
_EXACT_DURATION = {"flac", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"}
_QUICK_PROBE = {"probesize": "16384"}
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}

Source = Path | bytes


@dataclass(frozen=True)
class DecodedAudio:
    """Interleaved samples, shape (frames, channels)."""

    samples: npt.NDArray[np.int16] | npt.NDArray[np.int32] | npt.NDArray[np.float32]
    sample_rate: int  # Hertz

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.samples.shape[1])

    @property
    def seconds(self) -> float:
        """Duration."""
        return len(self.samples) / self.sample_rate


def layout_for(channels: int) -> str:
    """The FFmpeg channel layout name for a channel count."""
    return _LAYOUTS.get(channels, f"{channels}c")


def decode(
    source: Source, sample_rate: int | None = None, channels: int | None = None, fmt: str = "s16"
) -> DecodedAudio:
    """Decode the first audio stream; None keeps the input's rate / channel count.

    Raises InputError with one line naming the cause for a missing, empty, unreadable,
    truncated or audio-less input. ``fmt`` is a packed PyAV sample format: s16, s32 or flt.
    """
    name = _check(source)
    try:
        with _open(source) as container:
            if not container.streams.audio:
                raise InputError(f"{name} has no audio stream; give a file with sound in it")
            stream = container.streams.audio[0]
            rate = sample_rate or stream.rate or 16000
            layout = layout_for(channels or stream.channels or 1)
            declared = _declared_seconds(container, stream, source)
            samples = _decode_stream(container, stream, av.AudioResampler(fmt, layout, rate))
    except InputError:
        raise
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError, IndexError) as exc:
        raise InputError(f"{name} is not a readable audio file ({_reason(exc)})") from None
    n_channels = channels or stream.channels or 1
    samples = samples.reshape(-1, n_channels)
    if declared and len(samples) < _TRUNCATED_BELOW * declared * rate:
        raise InputError(
            f"{name} is truncated ({len(samples) / rate:.2f} s decoded of {declared:.2f} s "
            "declared); re-export or re-download it"
        )
    if samples.size == 0:
        raise InputError(f"{name} holds no audio samples")
    return DecodedAudio(samples, rate)


def decode_audio(path: Path, sample_rate: int = 16000) -> Pcm16:
    """Mono int16 samples at ``sample_rate`` (what the speech models take)."""
    samples = decode(path, sample_rate, 1, "s16").samples
    return samples.reshape(-1).astype(np.int16, copy=False)


def _check(source: Source) -> str:
    if isinstance(source, bytes):
        if not source:
            raise InputError("the audio data is empty (0 bytes)")
        return "the audio data"
    if not source.exists():
        raise InputError(f"input file {source} not found; check the path")
    if source.is_dir():
        raise InputError(f"{source} is a directory; give an audio file")
    if source.stat().st_size == 0:
        raise InputError(f"{source} is empty (0 bytes)")
    return str(source)


def _open(source: Source) -> av.container.InputContainer:
    """Open with a small probe first (FFmpeg's 5 MB default costs ~30 ms per file).

    If that leaves the audio stream without a rate or channel count, open with the full probe.
    """
    quick = av.open(_openable(source), options=_QUICK_PROBE, metadata_errors="ignore")
    container = cast(av.container.InputContainer, quick)
    audio = container.streams.audio
    if audio and audio[0].rate and audio[0].channels:
        return container
    container.close()
    return cast(av.container.InputContainer, av.open(_openable(source), metadata_errors="ignore"))


def _openable(source: Source) -> str | io.BytesIO:
    return io.BytesIO(source) if isinstance(source, bytes) else str(source)


def _decode_stream(
    container: av.container.InputContainer, stream: av.AudioStream, resampler: av.AudioResampler
) -> npt.NDArray[np.int16] | npt.NDArray[np.int32] | npt.NDArray[np.float32]:
    parts: list[npt.NDArray[Any]] = []
    for frame in container.decode(stream):
        parts.extend(r.to_ndarray().reshape(-1) for r in resampler.resample(frame))
    parts.extend(r.to_ndarray().reshape(-1) for r in resampler.resample(None))
    dtype = {"s16": np.int16, "s32": np.int32, "flt": np.float32}[resampler.format.name]
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def _declared_seconds(
    container: av.container.InputContainer, stream: av.AudioStream, source: Source
) -> float:
    """How long the input says it is (0 when it does not say)."""
    if container.format.name == "wav":
        # FFmpeg derives a WAV's duration from the file size; the header tells the truth.
        return _wav_header_seconds(source)
    if container.format.name not in _EXACT_DURATION:
        return 0.0  # estimated from the bit rate (MP3, ADTS...): no basis to call it truncated
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _wav_header_seconds(source: Source) -> float:
    try:
        with wave.open(_openable(source) if isinstance(source, bytes) else str(source), "rb") as w:
            size = w.getnframes() * w.getsampwidth() * w.getnchannels()
            # streaming writers leave the size at 0 or 0xFFFFFFFF: that declares nothing
            return 0.0 if size == 0 or size >= 0xFFFFFF00 else w.getnframes() / w.getframerate()
    except (wave.Error, EOFError, ZeroDivisionError):
        return 0.0  # not plain PCM (float, extensible): no declared length to check against


def _reason(exc: Exception) -> str:
    if isinstance(exc, av.error.FFmpegError) and exc.strerror:
        return str(exc.strerror).lower()
    return str(exc) or type(exc).__name__
