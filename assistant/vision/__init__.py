"""Vision: describe images from files, bytes, arrays and cameras with a llava-capable model."""

from __future__ import annotations

from pathlib import Path

from assistant.catalog.manifest import repo_models_dir
from assistant.config import Settings
from assistant.vision.catalog import resolve_vision
from assistant.vision.images import check_image
from assistant.vision.model import LlamaVisionModel
from assistant.vision.seeing import Eyes, SeeingChatModel


def vision_models_dir(settings: Settings) -> Path:
    """The models folder pulled vision models live under."""
    return Path(settings.models_dir or repo_models_dir())


def load_vision(settings: Settings) -> LlamaVisionModel:
    """The vision model of ``settings.vision`` (ModelError saying how to get one when unset)."""
    s = settings.vision
    files = resolve_vision(s, vision_models_dir(settings))
    return LlamaVisionModel.load(
        files.model, files.mmproj, s.handler, s.n_ctx, s.threads, s.max_side
    )


def eyes_for(settings: Settings, image: Path | None = None) -> Eyes | None:
    """Which turns of a conversation come with a picture; None when none can.

    With ``image`` every turn is about it. Without, when a vision model is configured, turns
    with a trigger phrase (or all, with ``always_attach``) look through ``vision.camera``.
    """
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


__all__ = ["Eyes", "LlamaVisionModel", "SeeingChatModel", "eyes_for", "load_vision"]
