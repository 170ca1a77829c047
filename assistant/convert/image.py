"""Image conversion with Pillow: orientation, resizing, alpha, metadata, animation.

EXIF orientation is applied to the pixels (and the tag reset), so every output is upright.
EXIF and ICC metadata are kept unless ``strip`` is set. Formats without alpha get the image
flattened onto ``background``. Pillow's decompression-bomb limit (``max_pixels``) is enforced
as an error, not a warning.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageColor, ImageOps, ImageSequence, UnidentifiedImageError

from assistant.convert.formats import ImageFormat
from assistant.convert.options import FILTERS, ConversionConfig
from assistant.errors import InputError

Source = Path | bytes
_JPEG_MODES = ("RGB", "L", "CMYK")


@dataclass(frozen=True)
class ImageResult:
    """What was written."""

    width: int
    height: int
    frames: int


@contextlib.contextmanager
def pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Apply Pillow's bomb limit for the block, treating its warning as an error too."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def open_image(
    source: Source,
    max_pixels: int | None = Image.MAX_IMAGE_PIXELS,
    draft: tuple[int, int] | None = None,
) -> Image.Image:
    """Open and fully decode an image, or raise InputError naming the cause.

    ``draft`` lets a JPEG decode at a reduced scale that still covers that size (much faster
    when the image is about to be shrunk).
    """
    name = "the image data" if isinstance(source, bytes) else str(source)
    if isinstance(source, Path) and source.is_file() and source.stat().st_size == 0:
        raise InputError(f"{name} is empty (0 bytes)")
    try:
        with pixel_limit(max_pixels):
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            if draft is not None and image.format == "JPEG":
                if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # stored sideways
                    draft = (draft[1], draft[0])
                image.draft(image.mode, draft)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(
            f"{name} is too large to decode safely ({exc}); raise max_pixels if trusted"
        ) from None
    except UnidentifiedImageError:
        raise InputError(f"{name} is not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{name} is damaged or truncated ({exc})") from None
    return image


def is_image(path: Path, max_pixels: int | None = Image.MAX_IMAGE_PIXELS) -> bool:
    """Whether Pillow recognises ``path`` from its header (a bomb-sized header is an error)."""
    try:
        with pixel_limit(max_pixels), Image.open(path):
            return True
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(
            f"{path} is too large to decode safely ({exc}); raise max_pixels if trusted"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False


class ImageConverter:
    """Converts images between formats with the options of a ConversionConfig."""

    def __init__(self, config: ConversionConfig | None = None) -> None:
        self.config = config or ConversionConfig()

    def convert(self, source: Source, target: Path | io.BytesIO, fmt: ImageFormat) -> ImageResult:
        """Read ``source``, transform it and write it to ``target`` in ``fmt``."""
        cfg = self.config
        image = open_image(source, cfg.max_pixels, cfg.size if cfg.fit != "exact" else None)
        frames = self._frames(image, fmt)
        out = [self.transform(frame, fmt) for frame in frames]
        options = self._save_options(image, fmt)
        if len(out) > 1:
            options.update(
                save_all=True,
                append_images=out[1:],
                duration=image.info.get("duration", 100),
                loop=0,
            )
        out[0].save(target, format=fmt.pillow, **options)
        return ImageResult(out[0].width, out[0].height, len(out))

    def transform(self, image: Image.Image, fmt: ImageFormat) -> Image.Image:
        """Upright, resized, and in a mode ``fmt`` can store."""
        image = ImageOps.exif_transpose(image) or image
        if self.config.size:
            image = resize(image, self.config.size, self.config.fit, self.config.resample)
        return self._mode_for(image, fmt)

    def _frames(self, image: Image.Image, fmt: ImageFormat) -> list[Image.Image]:
        if self.config.all_frames and fmt.animation and getattr(image, "n_frames", 1) > 1:
            return [frame.copy() for frame in ImageSequence.Iterator(image)]
        image.seek(0)
        return [image.copy()]

    def _mode_for(self, image: Image.Image, fmt: ImageFormat) -> Image.Image:
        has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        if has_alpha and not fmt.alpha:
            return flatten(image, self.config.background)
        if fmt.pillow == "JPEG" and image.mode not in _JPEG_MODES:
            return image.convert("RGB")
        if fmt.pillow in ("WEBP", "BMP") and image.mode not in ("RGB", "RGBA", "L"):
            return image.convert("RGBA" if has_alpha else "RGB")
        return image

    def _save_options(self, image: Image.Image, fmt: ImageFormat) -> dict[str, object]:
        cfg = self.config
        options: dict[str, object] = {}
        if cfg.quality is not None and fmt.pillow in ("JPEG", "WEBP"):
            options["quality"] = cfg.quality
        if not cfg.strip:
            exif = image.getexif()
            if exif:
                exif[0x0112] = 1  # the pixels are upright now
                options["exif"] = exif.tobytes()
            if icc := image.info.get("icc_profile"):
                options["icc_profile"] = icc
        return options


def resize(image: Image.Image, size: tuple[int, int], fit: str, resample: str) -> Image.Image:
    """fit: inside the box, keeping the aspect; fill: cover the box and crop; exact: stretch."""
    method = FILTERS[resample]
    if fit == "exact":
        return image.resize(size, method)
    if fit == "fill":
        return ImageOps.fit(image, size, method)
    return ImageOps.contain(image, size, method)


def flatten(image: Image.Image, background: str) -> Image.Image:
    """Composite an image with transparency onto an opaque background colour."""
    rgba = image.convert("RGBA")
    base = Image.new("RGBA", rgba.size, ImageColor.getrgb(background))
    return Image.alpha_composite(base, rgba).convert("RGB")
