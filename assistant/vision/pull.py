"""Pulls a vision model: a catalog preset, or a repository with its model and mmproj files.

The download itself is ``catalog/pull.py``'s (resumable, SHA-256 checked, staged); the files
land in ``models/vision/NAME/``.
"""

from __future__ import annotations

from pathlib import Path

from assistant.catalog.presets import Preset as CatalogPreset
from assistant.catalog.pull import pull as pull_files
from assistant.errors import ModelError
from assistant.vision.catalog import PRESETS, Preset


def preset_for(name_or_repo: str, files: tuple[str, ...]) -> Preset:
    """A named preset, or a repository and its model [+ mmproj] file names."""
    if not files:
        preset = PRESETS.get(name_or_repo)
        if preset is None:
            names = ", ".join(PRESETS)
            raise ModelError(
                f"no preset named {name_or_repo!r}; use one of {names}, or give a repository "
                "and its files: `assistant models pull OWNER/REPO MODEL.gguf MMPROJ.gguf`"
            )
        return preset
    if "/" not in name_or_repo or len(files) != 2:
        raise ModelError("give a repository (OWNER/REPO), its model file and its mmproj file")
    name = name_or_repo.split("/")[-1].lower().removesuffix("-gguf")
    return Preset(name, name_or_repo, files[0], files[1], name_or_repo)


def pull(preset: Preset, models_dir: Path) -> Path:
    """Fetch and verify both files of ``preset``; returns the folder they are in."""
    as_catalog = CatalogPreset(
        preset.name, "vision", preset.repo, (preset.model, preset.mmproj), preset.model, 0, "",
        0.0, preset.about,
    )  # fmt: skip
    return pull_files(as_catalog, models_dir)
