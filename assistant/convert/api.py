"""The conversion API: one generic call per kind, thin named wrappers, and file dispatch."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

from assistant.convert.atomic import atomic_output
from assistant.convert.audio import AudioConverter, AudioResult
from assistant.convert.formats import AudioFormat, ImageFormat, target_format
from assistant.convert.image import ImageConverter, ImageResult, is_image
from assistant.convert.options import ConversionConfig
from assistant.convert.video import has_video, video_frames
from assistant.errors import InputError

Source = Path | bytes


def convert_audio(
    source: Source | str,
    target: Path | str,
    fmt: str | None = None,
    config: ConversionConfig | None = None,
) -> AudioResult:
    """Convert audio to ``fmt`` (default: from the target's extension), atomically."""
    target = Path(target)
    audio = _audio_format(fmt or target.suffix)
    with atomic_output(target) as tmp:
        return AudioConverter(config).convert(_source(source), tmp, audio)


def convert_image(
    source: Source | str,
    target: Path | str,
    fmt: str | None = None,
    config: ConversionConfig | None = None,
) -> ImageResult:
    """Convert an image to ``fmt`` (default: from the target's extension), atomically."""
    target = Path(target)
    image = _image_format(fmt or target.suffix)
    with atomic_output(target) as tmp:
        return ImageConverter(config).convert(_source(source), tmp, image)


def convert_image_bytes(
    data: bytes, fmt: str = "png", config: ConversionConfig | None = None
) -> bytes:
    """Convert an encoded image in memory."""
    out = io.BytesIO()
    ImageConverter(config).convert(data, out, _image_format(fmt))
    return out.getvalue()


def convert_audio_bytes(
    data: bytes, fmt: str = "wav", config: ConversionConfig | None = None
) -> bytes:
    """Convert encoded audio in memory."""
    out = io.BytesIO()
    AudioConverter(config).convert(data, out, _audio_format(fmt))
    return out.getvalue()


def resample(samples: npt.NDArray[Any], from_rate: int, to_rate: int) -> npt.NDArray[Any]:
    """Resample a whole signal (frames, or frames x channels) with soxr, keeping its dtype."""
    if from_rate == to_rate:
        return samples
    return np.asarray(soxr.resample(samples, from_rate, to_rate))


def convert_file(
    source: Path, target: Path, fmt: AudioFormat | ImageFormat, config: ConversionConfig
) -> str:
    """Convert one file for the batch: audio, image, or a video's frames (into a folder).

    Returns a one-line description of the output. The output appears atomically.
    """
    with atomic_output(target) as tmp:
        if isinstance(fmt, AudioFormat):
            a = AudioConverter(config).convert(source, tmp, fmt)
            return f"{a.seconds:.2f} s, {a.sample_rate} Hz, {a.channels} ch"
        if is_image(source, config.max_pixels):
            i = ImageConverter(config).convert(source, tmp, fmt)
            return f"{i.width}x{i.height}" + (f", {i.frames} frames" if i.frames > 1 else "")
        return _frames_to_folder(source, tmp, fmt, config)


def frames_target(source: Path, fmt: ImageFormat, config: ConversionConfig) -> bool:
    """Whether converting ``source`` to an image format writes a folder of video frames."""
    return not is_image(source, config.max_pixels) and has_video(source)


def _frames_to_folder(
    source: Path, folder: Path, fmt: ImageFormat, config: ConversionConfig
) -> str:
    if not has_video(source):
        raise InputError(f"{source} is neither an image nor a video")
    folder.mkdir()
    converter = ImageConverter(config)
    count = 0
    for count, frame in enumerate(video_frames(source, config.fps), start=1):
        converter.transform(frame, fmt).save(
            folder / f"frame_{count:06d}{fmt.extension}", format=fmt.pillow
        )
    if count == 0:
        raise InputError(f"{source} has no video frames")
    return f"{count} frames at {config.fps:g} fps"


def _source(source: Source | str) -> Source:
    return Path(source) if isinstance(source, str) else source


def _audio_format(name: str) -> AudioFormat:
    fmt = target_format(name)
    if not isinstance(fmt, AudioFormat):
        raise ValueError(f"{name!r} is an image format; use convert_image")
    return fmt


def _image_format(name: str) -> ImageFormat:
    fmt = target_format(name)
    if not isinstance(fmt, ImageFormat):
        raise ValueError(f"{name!r} is an audio format; use convert_audio")
    return fmt


def mp3_to_wav(
    source: Source | str, target: Path | str, config: ConversionConfig | None = None
) -> AudioResult:
    """Convert an MP3 file to WAV."""
    return convert_audio(source, target, "wav", config)


def wav_to_mp3(
    source: Source | str, target: Path | str, config: ConversionConfig | None = None
) -> AudioResult:
    """Convert a WAV file to MP3."""
    return convert_audio(source, target, "mp3", config)


def to_speech_wav(source: Source | str, target: Path | str) -> AudioResult:
    """Convert any audio to 16 kHz mono 16-bit WAV, the format the speech models take."""
    return convert_audio(source, target, "wav", ConversionConfig(sample_rate=16000, channels=1))


def png_to_jpeg(
    source: Source | str, target: Path | str, config: ConversionConfig | None = None
) -> ImageResult:
    """Convert a PNG image to JPEG (transparency flattened onto the background colour)."""
    return convert_image(source, target, "jpeg", config)


def image_to_webp(
    source: Source | str, target: Path | str, config: ConversionConfig | None = None
) -> ImageResult:
    """Convert any image to WebP."""
    return convert_image(source, target, "webp", config)
