"""What a vision model pair says about itself, to check the pair and pick its chat handler.

The text model is described from its loaded weights (llama.cpp's metadata: instant), the
projector from its GGUF header (small, read with the ``gguf`` package before llama.cpp touches
it). A projector whose output width is not the text model's is refused with a message that
names both files; the same metadata picks the chat handler when ``vision.handler`` is "auto".
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
    output_width: int | None  # width of what it hands the text model (mlp projectors)
    has_grid: bool  # image_grid_pinpoints: llava 1.6 tiles large images
    minicpmv_version: int | None


def text_model_info(llama: Any, path: Path) -> TextModelInfo:
    """Name, architecture and width of a loaded llama-cpp-python model."""
    meta = llama.metadata
    return TextModelInfo(
        meta.get("general.name", path.stem), meta.get("general.architecture", ""), llama.n_embd()
    )


def is_projector(path: Path) -> bool:
    """Whether ``path`` is a CLIP projector (e.g. given where the language model belongs)."""
    try:
        return bool(_reader(path, "file").fields["general.architecture"].contents() == "clip")
    except (ModelError, KeyError):
        return False


def read_projector(path: Path) -> ProjectorInfo:
    """The projector's type and sizes; a file that is not a CLIP projector is a ModelError."""
    reader = _reader(path, "vision projector (mmproj)")
    fields = {name: field.contents() for name, field in reader.fields.items()}
    widths = {t.name: int(t.shape[0]) for t in reader.tensors if t.name.startswith("mm.")}
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
        output_width=widths.get("mm.2.bias"),  # an mlp projector's last layer
        has_grid="clip.vision.image_grid_pinpoints" in fields,
        minicpmv_version=_int(fields.get("clip.minicpmv_version")),
    )


def check_pair(model: Path, text: TextModelInfo, mmproj: Path, proj: ProjectorInfo) -> None:
    """Refuse a projector whose output width is not the text model's.

    (``clip.vision.projection_dim`` is CLIP's own width, 768 in LLaVA 1.5's mmproj against the
    model's 4096: the projector's last layer is what must match.) Projectors this cannot
    measure are checked by llama.cpp when it loads them.
    """
    if proj.output_width is None or text.embedding_length is None:
        return
    if proj.output_width != text.embedding_length:
        raise ModelError(mismatch(model, mmproj, f"{proj.output_width} values"))


def mismatch(model: Path, mmproj: Path, detail: str) -> str:
    """The message for a projector that does not fit its model."""
    return (
        f"{mmproj.name} does not belong to {model.name} (it hands the model {detail}); "
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


def _reader(path: Path, what: str) -> Any:
    from gguf import GGUFReader  # only vision needs it

    if not path.is_file():
        raise ModelError(f"{what} {path} not found; fix the path or run `assistant models pull`")
    try:
        return GGUFReader(path)
    except (ValueError, OSError, IndexError, KeyError, TypeError) as exc:
        raise ModelError(f"{what} {path} is not a readable GGUF file ({exc})") from None


def _int(value: Any) -> int | None:
    if isinstance(value, list):  # some writers store sizes as one-element arrays
        value = value[0] if value else None
    return int(value) if isinstance(value, int | float) else None
