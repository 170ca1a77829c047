"""Pictures in requests: base64 text or ``data:`` URIs to image bytes, within the pixel limit.

The size is read from the image's header before anything is decoded, so a decompression bomb
is refused for the price of a few bytes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
from typing import TYPE_CHECKING

from PIL import Image, UnidentifiedImageError

from assistant.errors import InputError, UserError

if TYPE_CHECKING:
    from assistant.models.seeing import SeeingChatModel
    from assistant.server.engine import Engine


def decode_picture(ref: str, max_pixels: int) -> bytes:
    """The image bytes of ``ref``; InputError for a web address, bad base64 or a non-image."""
    if ref.startswith(("http://", "https://")):
        raise InputError(
            "image URLs are not fetched (the server works offline); send the picture as a "
            "data: URI or base64"
        )
    if ref.startswith("data:"):
        header, comma, ref = ref.partition(",")
        if not comma or not header.endswith(";base64"):
            raise InputError("an image data URI must be base64: data:image/png;base64,...")
    try:
        data = base64.b64decode("".join(ref.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InputError("an image is not valid base64") from None
    _check_size(data, max_pixels)
    return data


def _check_size(data: bytes, max_pixels: int) -> None:
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
    except Image.DecompressionBombError:
        width, height = max_pixels + 1, 1
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):  # as convert.image
        raise InputError("an image is not a picture Pillow can read (or it is damaged)") from None
    if width * height > max_pixels:
        raise InputError(
            f"an image has {width * height / 1e6:.1f} megapixels; the limit is "
            f"{max_pixels / 1e6:g} (server.max_image_pixels)"
        )


async def show_picture(engine: Engine, seeing: SeeingChatModel | None, picture: str | None) -> None:
    """Let a voice conversation's next turns be about ``picture`` (base64 or a data URI).

    None stops showing one. UserError without a vision model, or for a picture that cannot be
    used (the vision model is loaded on the first picture).
    """
    if seeing is None:
        raise UserError(
            "pictures need a vision model: set vision.model (see `assistant models pull`), "
            'or vision.backend = "openai" and vision.url'
        )
    if picture is None:
        seeing.eyes.show(None)
        return
    limit = engine.settings.server.max_image_pixels
    image = await asyncio.to_thread(decode_picture, picture, limit)
    seeing.vision = await engine.hub.vision()
    seeing.eyes.show(image)
