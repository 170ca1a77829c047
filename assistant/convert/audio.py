"""Audio conversion: decode with PyAV, edit with pydub, encode with PyAV (no ffmpeg binary).

pydub is used for the high-level edits (gain, loudness, silence trimming) on audio that PyAV
decoded, so it never shells out to ffmpeg. Loudness is normalised to a target RMS level in
dBFS, with the gain capped so that peaks stay below full scale. Sample-rate and channel
conversion happen in PyAV's resampler (FFmpeg's swresample) while encoding.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import av
import numpy as np

from assistant.convert.audio_decode import DecodedAudio, Source, decode, layout_for
from assistant.convert.formats import WAV_SAMPLE_FORMATS, AudioFormat
from assistant.convert.options import ConversionConfig

with warnings.catch_warnings():  # pydub warns about a missing ffmpeg binary it will not use
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment
    from pydub.silence import detect_leading_silence

_PEAK_HEADROOM_DB = 0.1
# Short Ogg pages, so a reader streaming the file gets audio every 100 ms, not every few seconds.
_MUXER_OPTIONS = {"ogg": {"page_duration": "100000"}}
_FRAME = 1024  # samples per frame handed to the encoder


@dataclass(frozen=True)
class AudioResult:
    """What was written."""

    sample_rate: int
    channels: int
    seconds: float


class AudioConverter:
    """Converts audio between formats with the options of a ConversionConfig."""

    def __init__(self, config: ConversionConfig | None = None) -> None:
        self.config = config or ConversionConfig()

    def convert(self, source: Source, target: Path | io.BytesIO, fmt: AudioFormat) -> AudioResult:
        """Decode ``source``, apply the edits, and encode it to ``target`` in ``fmt``."""
        wide = self.config.sample_format in ("s24", "s32", "f32")
        decoded = decode(source, fmt="s32" if wide else "s16")
        segment = self.edit(_to_segment(decoded))
        return self._encode(segment, target, fmt)

    def edit(self, segment: AudioSegment) -> AudioSegment:
        """Trim silence, apply gain and loudness normalisation, as configured."""
        cfg = self.config
        if cfg.trim_silence:
            segment = trim_silence(segment, cfg.silence_dbfs)
        if cfg.gain_db:
            segment = segment.apply_gain(cfg.gain_db)
        if cfg.loudness_dbfs is not None and len(segment) and segment.rms:
            wanted = cfg.loudness_dbfs - segment.dBFS
            segment = segment.apply_gain(min(wanted, -segment.max_dBFS - _PEAK_HEADROOM_DB))
        return segment

    def _encode(
        self, segment: AudioSegment, target: Path | io.BytesIO, fmt: AudioFormat
    ) -> AudioResult:
        cfg = self.config
        rate = _supported_rate(cfg.sample_rate or segment.frame_rate, fmt)
        channels = cfg.channels or segment.channels
        if fmt.codec == "vorbis":
            channels = 2  # FFmpeg's own Vorbis encoder writes stereo only
        codec = fmt.codec
        if fmt.name == "wav" and cfg.sample_format:
            codec = WAV_SAMPLE_FORMATS[cfg.sample_format][0]
        out = str(target) if isinstance(target, Path) else target
        muxer = _MUXER_OPTIONS.get(fmt.container, {})
        with av.open(out, "w", format=fmt.container, container_options=muxer) as container:
            stream = cast(
                av.AudioStream, container.add_stream(codec, rate=rate, layout=layout_for(channels))
            )
            if fmt.codec == "vorbis":
                stream.codec_context.options["strict"] = "experimental"
            bitrate = cfg.bitrate or _quality_bitrate(cfg.quality)
            if fmt.lossy and bitrate:
                stream.bit_rate = bitrate
            resampler = av.AudioResampler(stream.format.name, layout_for(channels), rate)
            frames = 0
            for frame in _frames(segment):
                for chunk in resampler.resample(frame):
                    frames += chunk.samples
                    container.mux(stream.encode(chunk))
            for chunk in resampler.resample(None):
                frames += chunk.samples
                container.mux(stream.encode(chunk))
            container.mux(stream.encode(None))
        return AudioResult(rate, channels, frames / rate)


def trim_silence(segment: AudioSegment, threshold_dbfs: float) -> AudioSegment:
    """Cut leading and trailing audio quieter than ``threshold_dbfs``."""
    start = detect_leading_silence(segment, silence_threshold=threshold_dbfs)
    end = len(segment) - detect_leading_silence(segment.reverse(), silence_threshold=threshold_dbfs)
    return segment[start:end] if end > start else segment[:0]


def _to_segment(decoded: DecodedAudio) -> AudioSegment:
    return AudioSegment(
        data=decoded.samples.tobytes(),
        sample_width=decoded.samples.dtype.itemsize,
        frame_rate=decoded.sample_rate,
        channels=decoded.channels,
    )


def _frames(segment: AudioSegment) -> list[av.AudioFrame]:
    """The segment as PyAV frames (packed integer samples)."""
    dtype = {2: np.int16, 4: np.int32}[segment.sample_width]
    fmt = {2: "s16", 4: "s32"}[segment.sample_width]
    samples = np.frombuffer(segment.raw_data, dtype=dtype).reshape(-1, segment.channels)
    frames = []
    for start in range(0, len(samples), _FRAME):
        block = np.ascontiguousarray(samples[start : start + _FRAME]).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(block, format=fmt, layout=layout_for(segment.channels))
        frame.sample_rate = segment.frame_rate
        frames.append(frame)
    return frames


def _supported_rate(rate: int, fmt: AudioFormat) -> int:
    """``rate``, or the lowest rate the codec takes above it (else its highest)."""
    if not fmt.rates or rate in fmt.rates:
        return rate
    higher = [r for r in fmt.rates if r >= rate]
    return min(higher) if higher else max(fmt.rates)


def _quality_bitrate(quality: int | None) -> int | None:
    """Quality 1..100 as a bit rate from 32 to 320 kbit/s."""
    return None if quality is None else round(32_000 + (quality - 1) * 288_000 / 99)
