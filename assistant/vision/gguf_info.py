"""What a vision model pair says about itself: GGUF metadata read without loading the weights.

llama.cpp aborts the whole process on some bad inputs (a projector whose output does not fit
the text model), so the pair is checked here first and a bad one becomes one clear ModelError.
The same metadata picks the chat handler when ``vision.handler`` is "auto".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import ModelError

# projector types (clip.projector_type) of the handlers with their own prompt format
_LLAVA = ("mlp", "mlp_norm", "ldp", "ldpv2")
_QWEN = ("qwen2vl_merger", "qwen2.5vl_merger", "qwen25vl_merger", "qwen2vl")


@dataclass(frozen=True)
class TextModelInfo:
    """The language half of a vision model."""

    name: str
    architecture: str
    embedding_length: int | None


@dataclass(frozen=True)
class ProjectorInfo:
    """The image half: the CLIP-style encoder and its projector (the "mmproj" file)."""

    projector_type: str
    image_size: int | None  # pixels on a side the encoder takes
    projection_dim: int | None  # width of what it hands the text model
    has_grid: bool  # image_grid_pinpoints: llava 1.6 tiles large images
    minicpmv_version: int | None


def read_text_model(path: Path) -> TextModelInfo:
    """Name, architecture and width of a GGUF text model."""
    fields = _fields(path, "vision model")
    arch = str(fields.get("general.architecture", ""))
    if arch == "clip":
        raise ModelError(f"{path} is a projector (mmproj), not a language model; swap the two")
    width = fields.get(f"{arch}.embedding_length")
    return TextModelInfo(str(fields.get("general.name", path.stem)), arch, _int(width))


def read_projector(path: Path) -> ProjectorInfo:
    """The projector's type and sizes; a file that is not a CLIP projector is a ModelError."""
    fields = _fields(path, "vision projector (mmproj)")
    if fields.get("general.architecture") != "clip" or not fields.get(
        "clip.has_vision_encoder", True
    ):
        raise ModelError(
            f"{path} is not a vision projector (mmproj) file; set vision.mmproj to the "
            "mmproj GGUF that belongs to the model"
        )
    return ProjectorInfo(
        projector_type=str(fields.get("clip.projector_type", "mlp")),
        image_size=_int(fields.get("clip.vision.image_size")),
        projection_dim=_int(fields.get("clip.vision.projection_dim")),
        has_grid="clip.vision.image_grid_pinpoints" in fields,
        minicpmv_version=_int(fields.get("clip.minicpmv_version")),
    )


def check_pair(model: Path, text: TextModelInfo, mmproj: Path, proj: ProjectorInfo) -> None:
    """Refuse a projector whose output width is not the text model's (llama.cpp would abort)."""
    if proj.projector_type not in _LLAVA or None in (proj.projection_dim, text.embedding_length):
        return  # other projectors size their output from the text model themselves
    if proj.projection_dim != text.embedding_length:
        raise ModelError(
            f"{mmproj.name} does not belong to {model.name}: it projects images to "
            f"{proj.projection_dim} values but the model reads {text.embedding_length}; "
            "use the mmproj file published with the model"
        )


def infer_handler(text: TextModelInfo, proj: ProjectorInfo) -> str:
    """The chat handler that fits the pair (see VisionSettings.handler)."""
    name = text.name.lower()
    if "moondream" in name:
        return "moondream"
    if "nanollava" in name or "nano-llava" in name:
        return "nanollava"
    if proj.projector_type == "resampler" and proj.minicpmv_version is not None:
        return "minicpmv26"
    if proj.projector_type in _QWEN:
        return "qwen25vl"
    if proj.projector_type in _LLAVA:
        return "llava16" if proj.has_grid else "llava15"
    return "mtmd"  # generic: the model's own chat template (SmolVLM, Gemma 3, ...)


def _fields(path: Path, what: str) -> dict[str, Any]:
    from gguf import GGUFReader  # only vision needs it

    if not path.is_file():
        raise ModelError(f"{what} {path} not found; fix the path or run `assistant models pull`")
    try:
        reader = GGUFReader(path)
        return {name: field.contents() for name, field in reader.fields.items()}
    except (ValueError, OSError, IndexError, KeyError, TypeError) as exc:
        raise ModelError(f"{what} {path} is not a readable GGUF file ({exc})") from None


def _int(value: Any) -> int | None:
    if isinstance(value, list):  # some writers store sizes as one-element arrays
        value = value[0] if value else None
    return int(value) if isinstance(value, int | float) else None
