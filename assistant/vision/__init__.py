"""Vision: images from files, bytes, arrays and cameras, made ready for a llava-capable model.

The model itself is an adapter of the models wing (assistant.models.llava); the chat model
that hands it turns with a picture is assistant.models.seeing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from assistant.catalog.manifest import repo_models_dir
from assistant.config import Settings
from assistant.vision.images import check_image

if TYPE_CHECKING:
    from assistant.models.seeing import Eyes


def vision_models_dir(settings: Settings) -> Path:
    """The models folder pulled vision models live under."""
    return Path(settings.models_dir or repo_models_dir())


def eyes_for(settings: Settings, image: Path | None = None) -> Eyes | None:
    """Which turns of a conversation come with a picture; None when none can.

    With ``image`` every turn is about it. Without, when a vision model is configured, turns
    with a trigger phrase (or all, with ``always_attach``) look through ``vision.camera``.
    """
    from assistant.models.seeing import Eyes  # the models wing builds on this package

    s = settings.vision
    if image is not None:
        check_image(image)
        return Eyes(image=image)
    if not s.model:
        return None
    return Eyes(
        camera=s.camera,
        triggers=tuple(s.triggers),
        always=s.always_attach,
        warmup_s=s.camera_warmup_s,
    )


__all__ = ["eyes_for", "vision_models_dir"]
