"""A media corpus made on the spot: tones, encoded audio, video, and images drawn with Pillow."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageCms, ImageDraw

from tests import media


def tone(
    seconds: float,
    rate: int = 44100,
    channels: int = 2,
    freq: float = 440.0,
    lead_silence: float = 0.0,
    level: float = 0.3,
) -> np.ndarray:
    """(frames, channels) int16: optional silence, then a sine."""
    t = np.arange(int(seconds * rate)) / rate
    wave_ = (level * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    wave_ = np.concatenate([np.zeros(int(lead_silence * rate), np.int16), wave_])
    return np.repeat(wave_[:, None], channels, axis=1)


def write_audio(
    path: Path, samples: np.ndarray, rate: int, codec: str, container: str | None = None
) -> Path:
    """Encode (frames, channels) int16 with PyAV."""
    channels = samples.shape[1]
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if codec == "vorbis":
            stream.codec_context.options["strict"] = "experimental"
        resampler = av.AudioResampler(stream.format.name, layout, rate)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
        frame.sample_rate = rate
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(chunk))
        out.mux(stream.encode(None))
    return path


def write_video(path: Path, seconds: float = 2.0, fps: int = 10, with_audio: bool = True) -> Path:
    """An MP4 with a moving grey level and, optionally, a tone track."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        audio = out.add_stream("aac", rate=44100, layout="mono") if with_audio else None
        for i in range(int(seconds * fps)):
            pixels = np.full((64, 96, 3), (i * 10) % 255, np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        out.mux(video.encode(None))
        if audio is not None:
            samples = tone(seconds, 44100, 1)
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = 44100
            resampler = av.AudioResampler("fltp", "mono", 44100)
            for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
                out.mux(audio.encode(chunk))
            out.mux(audio.encode(None))
    return path


def photo(
    path: Path,
    size: tuple[int, int] = (300, 200),
    orientation: int = 1,
    icc: bool = True,
    fmt: str = "JPEG",
) -> Path:
    """A landscape picture with a red square top-left, an EXIF camera name and orientation."""
    image = Image.new("RGB", size, (40, 90, 200))
    ImageDraw.Draw(image).rectangle((0, 0, 49, 49), fill=(255, 0, 0))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x0112] = orientation
    options: dict[str, object] = {"exif": exif.tobytes()}
    if icc:
        options["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image.save(path, format=fmt, **options)
    return path


def transparent_png(path: Path) -> Path:
    """Half-transparent everywhere except an opaque green square in the middle."""
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((40, 40, 59, 59), fill=(0, 255, 0, 255))
    image.save(path)
    return path


def animated_gif(path: Path, frames: int = 3) -> Path:
    images = [Image.new("RGB", (40, 30), (i * 80, 0, 0)) for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


def png_bomb(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A tiny PNG whose header claims absurd dimensions."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def speech_wav(path: Path, tts: object, text: str = "Converting files is easy.") -> Path:
    pcm = np.concatenate([media.silence(0.6), media.speech(tts, text), media.silence(0.6)])  # type: ignore[arg-type]
    return media.write_wav(path, pcm)
