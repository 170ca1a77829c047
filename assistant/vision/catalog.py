"""Where vision models come from: named presets pulled from Hugging Face, or files by path.

No vision model ships as a package, so none is installed by default. ``assistant models pull
NAME`` downloads a preset's model and projector (mmproj) under ``models/vision/NAME/``;
``vision.model`` then names the preset, or any GGUF path with ``vision.mmproj`` beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assistant.catalog.presets import presets
from assistant.config import VisionSettings
from assistant.errors import ModelError

HOW_TO_GET_ONE = (
    "no vision model is configured; run `assistant models pull smolvlm-256m` (online) or set "
    "vision.model and vision.mmproj to the paths of a GGUF model and its mmproj file"
)


@dataclass(frozen=True)
class Preset:
    """A small published vision model: its repository and the two files to fetch."""

    name: str
    repo: str
    model: str
    mmproj: str
    about: str


PRESETS = {
    p.name: Preset(p.name, p.repo, p.files[0], p.files[1], f"{p.good_for} (~{p.size_mb} MB)")
    for p in presets()
    if p.role == "vision"
}  # from the catalog (catalog/presets.toml)


@dataclass(frozen=True)
class VisionFiles:
    """A vision model's two files."""

    name: str
    model: Path
    mmproj: Path
    source: str  # "preset NAME", or "path"


def vision_dir(models_dir: Path) -> Path:
    """Where pulled vision models live."""
    return models_dir / "vision"


def resolve_vision(settings: VisionSettings, models_dir: Path) -> VisionFiles:
    """The configured model and projector; ModelError saying how to get one when unset."""
    if not settings.model:
        raise ModelError(HOW_TO_GET_ONE)
    pulled = vision_dir(models_dir) / settings.model
    if settings.model in PRESETS or pulled.is_dir():
        return _pulled(settings, pulled)
    model = Path(settings.model).expanduser()
    if not model.is_file():
        names = ", ".join(PRESETS)
        raise ModelError(
            f"vision model {model} not found; set vision.model to a GGUF path or a pulled "
            f"preset ({names})"
        )
    mmproj = Path(settings.mmproj).expanduser() if settings.mmproj else _beside(model)
    return VisionFiles(model.stem, model, mmproj, "path")


def pulled_models(models_dir: Path) -> list[VisionFiles]:
    """Every complete model under ``models/vision/``."""
    folder = vision_dir(models_dir)
    found = []
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            found.append(_pulled(VisionSettings(model=sub.name), sub))
        except ModelError:
            continue  # an interrupted pull: `models pull` again resumes it
    return found


def _pulled(settings: VisionSettings, folder: Path) -> VisionFiles:
    preset = PRESETS.get(folder.name)
    if preset is not None:
        model, mmproj = folder / preset.model, folder / preset.mmproj
    else:
        ggufs = sorted(p for p in folder.glob("*.gguf") if "mmproj" not in p.name.lower())
        model = ggufs[0] if ggufs else folder / "model.gguf"
        mmproj = _beside(model)
    if settings.mmproj:
        mmproj = Path(settings.mmproj).expanduser()
    if not model.is_file() or not mmproj.is_file():
        raise ModelError(
            f"vision model {folder.name} is not pulled yet; run `assistant models pull "
            f"{folder.name}`"
        )
    return VisionFiles(folder.name, model, mmproj, f"preset {folder.name}")


def _beside(model: Path) -> Path:
    """The mmproj file in the model's folder (the one whose name says mmproj)."""
    candidates = sorted(model.parent.glob("*mmproj*.gguf"))
    if len(candidates) != 1:
        problem = "none" if not candidates else f"{len(candidates)}"
        raise ModelError(
            f"found {problem} mmproj files beside {model}; set vision.mmproj to the projector "
            "GGUF that belongs to it"
        )
    return candidates[0]
