"""Any image in (file, bytes, PIL image, NumPy frame), one upright RGB PNG for a vision model out.

The converters do the work (assistant.convert.image): EXIF orientation applied to the pixels,
transparency flattened onto white, metadata dropped, and the image shrunk (never enlarged) to
fit ``max_side`` pixels on its longer side, which callers set from the model's input size: a
40-megapixel photo costs the image encoder nothing more than a thumbnail, and encoding it as PNG
keeps the pixels exactly as the model will see them.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from assistant.convert.formats import IMAGE_FORMATS
from assistant.convert.image import ImageConverter, is_image, open_image
from assistant.convert.options import ConversionConfig
from assistant.errors import InputError

ImageInput = Path | str | bytes | Image.Image | npt.NDArray[np.uint8]
DEFAULT_MAX_SIDE = 1024  # when the model does not say how large its input is


@dataclass(frozen=True)
class PreparedImage:
    """An image ready for a vision model."""

    png: bytes
    width: int
    height: int
    source_width: int  # before downscaling
    source_height: int

    def data_uri(self) -> str:
        """The PNG as a ``data:`` URI, the form llama.cpp's chat handlers take."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def prepare_image(image: ImageInput, max_side: int = DEFAULT_MAX_SIDE) -> PreparedImage:
    """Normalise ``image`` for a model; raises InputError for anything unreadable."""
    picture = _as_pil(image, max_side)
    width, height = _upright_size(picture)  # the converter turns it upright
    source_width, source_height = _header_size(image) or (width, height)
    longest = max(width, height)
    size = None
    if longest > max_side:
        scale = max_side / longest
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
    converter = ImageConverter(ConversionConfig(size=size, strip=True))
    # transformed as for a format without alpha: flattened onto white, like the models were taught
    out = converter.transform(picture, IMAGE_FORMATS["jpeg"])
    if out.mode != "RGB":  # L, CMYK
        out = out.convert("RGB")
    buffer = io.BytesIO()
    out.save(buffer, format="PNG")
    return PreparedImage(buffer.getvalue(), out.width, out.height, source_width, source_height)


def check_image(path: Path) -> None:
    """Fail fast (InputError) for a missing file or one that is not an image at all."""
    if not path.is_file():
        raise InputError(f"image {path} not found; check the path")
    if path.stat().st_size == 0:
        raise InputError(f"image {path} is empty (0 bytes)")
    if not is_image(path):
        raise InputError(f"{path} is not an image Pillow can read (or it is damaged)")


def _as_pil(image: ImageInput, max_side: int) -> Image.Image:
    if isinstance(image, Image.Image):
        image.load()
        return image
    if isinstance(image, np.ndarray):
        return _from_array(image)
    if isinstance(image, str):
        image = Path(image)
    if isinstance(image, Path) and not image.is_file():
        raise InputError(f"image {image} not found; check the path")
    return open_image(image, draft=(max_side, max_side))  # a JPEG decodes at a reduced scale


def _header_size(image: ImageInput) -> tuple[int, int] | None:
    """The upright size a file or bytes declare (a JPEG may then be decoded smaller)."""
    if not isinstance(image, str | Path | bytes):
        return None
    with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as header:
        return _upright_size(header)


def _upright_size(image: Image.Image) -> tuple[int, int]:
    """Width and height once the EXIF orientation is applied."""
    width, height = image.size
    sideways = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    return (height, width) if sideways else (width, height)


def _from_array(frame: npt.NDArray[np.uint8]) -> Image.Image:
    """A frame as decoders give it: HxW grey, HxWx3 RGB or HxWx4 RGBA, 8-bit."""
    if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
        raise InputError(
            f"a NumPy image must be 8-bit HxW or HxWxC, got {frame.dtype} {frame.shape}"
        )
    if frame.ndim == 3 and frame.shape[2] not in (3, 4):
        raise InputError(f"a NumPy image needs 3 (RGB) or 4 (RGBA) channels, got {frame.shape}")
    return Image.fromarray(frame)
