"""ConversionConfig: every option of the audio and image converters, validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from PIL import Image

from assistant.convert.formats import WAV_SAMPLE_FORMATS

FitMode = Literal["fit", "fill", "exact"]
FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


@dataclass
class ConversionConfig:
    """Options for a conversion; None keeps the input's own value."""

    # audio
    sample_rate: int | None = None  # Hertz
    channels: int | None = None
    sample_format: str | None = None  # s16 | s24 | s32 | f32 | u8 (WAV)
    bitrate: int | None = None  # bits per second, lossy codecs
    loudness_dbfs: float | None = None  # target RMS loudness
    trim_silence: bool = False  # cut leading and trailing silence
    silence_dbfs: float = -50.0  # below this counts as silence when trimming
    gain_db: float = 0.0
    # image
    size: tuple[int, int] | None = None  # pixels (width, height)
    fit: FitMode = "fit"  # fit inside / fill and crop / exact stretch
    resample: str = "lanczos"
    quality: int | None = None  # 1..100: JPEG/WebP quality, or lossy audio quality
    strip: bool = False  # drop EXIF/ICC/XMP metadata
    background: str = "#ffffff"  # for flattening alpha onto formats without it
    all_frames: bool = False  # GIF/animated input: keep every frame
    fps: float = 1.0  # frames per second taken from a video
    max_pixels: int | None = field(default_factory=lambda: Image.MAX_IMAGE_PIXELS)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first bad option."""
        problems = {
            "sample_rate": self.sample_rate is not None and not 1000 <= self.sample_rate <= 384000,
            "channels": self.channels is not None and not 1 <= self.channels <= 8,
            "sample_format": self.sample_format is not None
            and self.sample_format not in WAV_SAMPLE_FORMATS,
            "bitrate": self.bitrate is not None and not 6000 <= self.bitrate <= 640000,
            "quality": self.quality is not None and not 1 <= self.quality <= 100,
            "size": self.size is not None and min(self.size) < 1,
            "fit": self.fit not in ("fit", "fill", "exact"),
            "resample": self.resample not in FILTERS,
            "fps": not 0 < self.fps <= 240,
        }
        for name, bad in problems.items():
            if bad:
                raise ValueError(f"bad conversion option {name}={getattr(self, name)!r}")
