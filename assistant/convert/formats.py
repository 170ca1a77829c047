"""The formats the converters write: container, codec and kind for each target name."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.errors import UserError


@dataclass(frozen=True)
class AudioFormat:
    """An audio target: PyAV container and codec."""

    name: str
    extension: str
    container: str
    codec: str
    lossy: bool
    rates: tuple[int, ...] = ()  # rates the codec accepts; () = any


@dataclass(frozen=True)
class ImageFormat:
    """An image target: the Pillow format name."""

    name: str
    extension: str
    pillow: str
    alpha: bool  # can store transparency
    animation: bool  # can store several frames


AUDIO_FORMATS = {
    f.name: f
    for f in (
        AudioFormat("wav", ".wav", "wav", "pcm_s16le", lossy=False),
        AudioFormat("flac", ".flac", "flac", "flac", lossy=False),
        AudioFormat(
            "mp3",
            ".mp3",
            "mp3",
            "mp3",
            lossy=True,
            rates=(8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
        ),
        AudioFormat("ogg", ".ogg", "ogg", "vorbis", lossy=True),
        AudioFormat(
            "opus", ".opus", "ogg", "libopus", lossy=True, rates=(8000, 12000, 16000, 24000, 48000)
        ),
        AudioFormat("m4a", ".m4a", "ipod", "aac", lossy=True),
        AudioFormat("aac", ".aac", "adts", "aac", lossy=True),
        AudioFormat(
            "webm", ".webm", "webm", "libopus", lossy=True, rates=(8000, 12000, 16000, 24000, 48000)
        ),
    )
}

IMAGE_FORMATS = {
    f.name: f
    for f in (
        ImageFormat("jpeg", ".jpg", "JPEG", alpha=False, animation=False),
        ImageFormat("png", ".png", "PNG", alpha=True, animation=True),
        ImageFormat("webp", ".webp", "WEBP", alpha=True, animation=True),
        ImageFormat("tiff", ".tiff", "TIFF", alpha=True, animation=True),
        ImageFormat("bmp", ".bmp", "BMP", alpha=False, animation=False),
        ImageFormat("gif", ".gif", "GIF", alpha=True, animation=True),
    )
}

_ALIASES = {"jpg": "jpeg", "tif": "tiff", "oga": "ogg", "mp4a": "m4a"}

# WAV sample formats: name -> (PyAV codec, PyAV sample format)
WAV_SAMPLE_FORMATS = {
    "s16": ("pcm_s16le", "s16"),
    "s24": ("pcm_s24le", "s32"),
    "s32": ("pcm_s32le", "s32"),
    "f32": ("pcm_f32le", "flt"),
    "u8": ("pcm_u8", "u8"),
}


def target_format(name: str) -> AudioFormat | ImageFormat:
    """The format named ``name`` (``mp3``, ``.jpg``, ``WEBP``...); UserError lists the choices."""
    key = name.lower().lstrip(".")
    key = _ALIASES.get(key, key)
    found = AUDIO_FORMATS.get(key) or IMAGE_FORMATS.get(key)
    if found is None:
        choices = ", ".join([*AUDIO_FORMATS, *IMAGE_FORMATS])
        raise UserError(f"unsupported target format {name!r}; choose one of: {choices}")
    return found
