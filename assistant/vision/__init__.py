"""Vision: images from files, bytes, arrays and cameras, made ready for a llava-capable model.

The model itself is an adapter of the models wing (assistant.models.llava); the chat model
that hands it turns with a picture is assistant.models.seeing.
"""

from __future__ import annotations

from pathlib import Path

from assistant.catalog.manifest import repo_models_dir
from assistant.config import Settings


def vision_models_dir(settings: Settings) -> Path:
    """The models folder pulled vision models live under."""
    return Path(settings.models_dir or repo_models_dir())


__all__ = ["vision_models_dir"]
