"""What a GGUF chat model file says about itself, read without loading its weights.

``/api/models`` lists every model a client may load, loaded or not; its size, quantisation,
author, parameter count and licence come from the file's header (llama.cpp reads the metadata
and vocabulary only), remembered per file until the file changes.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assistant.llm.model import Model

# llama_ftype (GGUF general.file_type) -> the name llama.cpp's quantize tool gives it
_FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
}


@dataclass(frozen=True)
class ModelFacts:
    """A model file's size and what its metadata says (None where it says nothing)."""

    size: int  # bytes on disk
    quantization: str  # e.g. "Q4_1"; "unknown" where the file does not say
    architecture: str | None
    author: str | None
    parameters: str | None  # e.g. "135M"
    license: str | None

    def metadata(self) -> dict[str, Any]:
        """The reference's ``metadata`` object, and the architecture."""
        facts = asdict(self)
        return {k: facts[k] for k in ("author", "parameters", "license", "architecture")}


def model_facts(path: Path) -> ModelFacts:
    """The facts of the GGUF file ``path`` (LlmError if it is not one); blocking."""
    stat = path.stat()
    return _read(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _read(path: Path, size: int, _mtime_ns: int) -> ModelFacts:
    model = Model.load(path, vocab_only=True)
    try:
        meta = model.metadata()
    finally:
        model.close()
    file_type = meta.get("general.file_type", "")
    return ModelFacts(
        size=size,
        quantization=_FILE_TYPES.get(int(file_type), "unknown")
        if file_type.isdigit()
        else "unknown",
        architecture=meta.get("general.architecture"),
        author=meta.get("general.author") or meta.get("general.organization"),
        parameters=meta.get("general.size_label"),
        license=meta.get("general.license"),
    )
