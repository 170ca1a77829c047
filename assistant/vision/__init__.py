"""Vision: describe images from files, bytes, arrays and cameras with a llava-capable model."""

from __future__ import annotations

from pathlib import Path

from assistant.catalog.manifest import repo_models_dir
from assistant.config import Settings
from assistant.loader import Models
from assistant.vision.catalog import resolve_vision
from assistant.vision.images import check_image
from assistant.vision.model import LlamaVisionModel
from assistant.vision.seeing import Eyes, SeeingChatModel


def load_vision(settings: Settings) -> LlamaVisionModel:
    """The vision model of ``settings.vision`` (ModelError saying how to get one when unset)."""
    s = settings.vision
    files = resolve_vision(s, Path(settings.models_dir or repo_models_dir()))
    return LlamaVisionModel.load(
        files.model, files.mmproj, s.handler, s.n_ctx, s.threads, s.max_side
    )


def with_eyes(settings: Settings, models: Models, image: Path | None = None) -> Models:
    """``models`` whose chat model hands turns with a picture to the vision model.

    With ``image`` every turn is about it (a vision model must be configured). Without, when a
    vision model is configured, turns with a trigger phrase (or all, with ``always_attach``)
    look through ``vision.camera``; with none configured ``models`` is returned as it is.
    """
    s = settings.vision
    if image is None and not s.model:
        return models
    if image is not None:
        check_image(image)
    assert models.llm is not None
    eyes = (
        Eyes(image=image)
        if image is not None
        else Eyes(
            camera=s.camera,
            triggers=tuple(s.triggers),
            always=s.always_attach,
            warmup_s=s.camera_warmup_s,
        )
    )
    models.llm = SeeingChatModel(models.llm, load_vision(settings), eyes)
    return models


__all__ = ["LlamaVisionModel", "load_vision", "with_eyes"]
