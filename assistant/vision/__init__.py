"""Vision: describe images from files, bytes, arrays and cameras with a llava-capable model."""

from __future__ import annotations

from pathlib import Path

from assistant.catalog.manifest import repo_models_dir
from assistant.config import Settings
from assistant.vision.catalog import resolve_vision
from assistant.vision.model import LlamaVisionModel


def load_vision(settings: Settings) -> LlamaVisionModel:
    """The vision model of ``settings.vision`` (ModelError saying how to get one when unset)."""
    s = settings.vision
    files = resolve_vision(s, Path(settings.models_dir or repo_models_dir()))
    return LlamaVisionModel.load(
        files.model, files.mmproj, s.handler, s.n_ctx, s.threads, s.max_side
    )


__all__ = ["LlamaVisionModel", "load_vision"]
