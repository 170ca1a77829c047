"""Re-quantising a GGUF model with llama.cpp's own quantiser."""

from __future__ import annotations

import os
from pathlib import Path

from assistant.convert.atomic import atomic_output
from assistant.llm.backend import quiet_logs
from assistant.llm.errors import ConfigurationError, ModelLoadError

# names as llama.cpp's quantize tool spells them -> llama_ftype
QUANT_TYPES = {
    "F16": 1,
    "Q4_0": 2,
    "Q4_1": 3,
    "Q8_0": 7,
    "Q5_0": 8,
    "Q5_1": 9,
    "Q2_K": 10,
    "Q3_K_M": 12,
    "Q4_K_M": 15,
    "Q5_K_M": 17,
    "Q6_K": 18,
}


def quantize(
    source: str | Path, target: str | Path, kind: str = "Q4_K_M", threads: int = 0
) -> Path:
    """Write ``source`` quantised to ``kind`` at ``target`` (atomically); returns the target.

    Quantising an already quantised model is allowed, at some cost in quality.
    """
    import llama_cpp

    quiet_logs()
    source, target = Path(source), Path(target)
    if kind.upper() not in QUANT_TYPES:
        raise ConfigurationError(
            f"unknown quantisation {kind!r}; use one of {', '.join(QUANT_TYPES)}"
        )
    if not source.is_file():
        raise ModelLoadError(f"model file {source} not found; check the path")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[kind.upper()]
    params.nthread = threads or os.cpu_count() or 1
    params.allow_requantize = True
    with atomic_output(target) as tmp:
        if llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params) != 0:
            raise ModelLoadError(
                f"llama.cpp could not quantise {source} to {kind}; is it a GGUF model?"
            )
    return target
