"""Where each model runs (CPU or GPU), why, and the checks of the GPU settings.

llama.cpp offloads ``llm.gpu_layers`` / ``vision.gpu_layers`` layers only when
llama-cpp-python was built with a GPU back-end (``make setup LLAMA_BACKEND=cuda`` or
``metal``); the default build is CPU-only, and a GPU setting there is one warning and the CPU.
faster-whisper runs on ``stt.device``: "cuda" needs a CUDA device CTranslate2 can see (a clear
error otherwise), "auto" takes one when there is one. Piper runs on onnxruntime's CPU provider.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from assistant.config import Settings
from assistant.errors import ConfigError

log = logging.getLogger(__name__)

GPU_BUILD_FIX = "rebuild with `make setup LLAMA_BACKEND=cuda` (or metal) to use it"


@functools.cache
def llama_gpu() -> bool:
    """Whether this llama-cpp-python build can offload layers to a GPU."""
    from assistant.llm.backend import supports_gpu_offload

    return supports_gpu_offload()


def cuda_devices() -> int:
    """CUDA devices CTranslate2 (faster-whisper) can see."""
    import ctranslate2

    try:
        return int(ctranslate2.get_cuda_device_count())
    except RuntimeError:  # no CUDA driver at all
        return 0


def gpu_layers(role: str, layers: int) -> int:
    """The layers to offload for ``role`` (llm, vision): 0, with a warning, on a CPU build."""
    if layers and not llama_gpu():
        log.warning(
            "%s.gpu_layers = %d but this llama-cpp-python build has no GPU back-end; running on "
            "the CPU (%s)",
            role,
            layers,
            GPU_BUILD_FIX,
        )
        return 0
    return layers


def stt_device(device: str) -> str:
    """The device faster-whisper runs on; ConfigError for "cuda" without a CUDA device."""
    if device == "cpu":
        return "cpu"
    found = cuda_devices()
    if device == "cuda" and not found:
        raise ConfigError(
            'stt.device = "cuda" but CTranslate2 sees no CUDA device (no GPU, driver or CUDA '
            'libraries); set stt.device = "cpu" or "auto"'
        )
    return "cuda" if found else "cpu"


def placement(settings: Settings) -> list[dict[str, Any]]:
    """For each model: where it runs, and why (``assistant doctor``)."""
    rows = [_llama_row("llm", settings.llm.gpu_layers)]
    if settings.llm.backend == "openai":
        rows[0] = {
            "role": "llm",
            "runs_on": "remote",
            "why": f"llm.backend = openai ({settings.llm.base_url.rstrip('/') or 'no url set'})",
        }
    rows.append(_stt_row(settings))
    rows.append({"role": "tts", "runs_on": "cpu", "why": "Piper on onnxruntime's CPU provider"})
    rows.append(
        {"role": "turn", "runs_on": "cpu", "why": "Smart Turn on onnxruntime's CPU provider"}
    )
    vision = settings.vision
    if vision.backend != "local":
        where = f"vision.backend = {vision.backend} ({vision.url.rstrip('/') or 'no url set'})"
        rows.append({"role": "vision", "runs_on": "remote", "why": where})
    elif vision.model:
        rows.append(_llama_row("vision", vision.gpu_layers))
    s, t = settings.stt, settings.tts
    remote = {"stt": (s.backend, s.url), "tts": (t.backend, t.url)}
    for row in rows:  # a speech model on a server runs wherever that server runs it
        backend, url = remote.get(row["role"], ("local", ""))
        if backend != "local":
            why = f"{row['role']}.backend = {backend} ({url.rstrip('/') or 'no url set'})"
            row.update(runs_on="remote", why=why)
    return rows


def _llama_row(role: str, layers: int) -> dict[str, Any]:
    gpu = llama_gpu()
    if not layers:
        why = f"{role}.gpu_layers = 0" + ("" if gpu else " (and this build is CPU-only)")
        return {"role": role, "runs_on": "cpu", "why": why}
    if not gpu:
        why = f"{role}.gpu_layers = {layers}, but this build is CPU-only; {GPU_BUILD_FIX}"
        return {"role": role, "runs_on": "cpu", "why": why}
    amount = "every layer" if layers < 0 else f"{layers} layers"
    return {"role": role, "runs_on": "gpu", "why": f"{amount} offloaded ({role}.gpu_layers)"}


def _stt_row(settings: Settings) -> dict[str, Any]:
    s = settings.stt
    found = cuda_devices() if s.device != "cpu" else 0
    if s.device == "cpu":
        why = 'stt.device = "cpu"'
    elif found:
        why = f'stt.device = "{s.device}" and CTranslate2 sees {found} CUDA device(s)'
    else:
        why = f'stt.device = "{s.device}" but CTranslate2 sees no CUDA device'
    runs_on = "cuda" if found else "cpu"
    if s.device == "cuda" and not found:
        runs_on = "error"
    return {"role": "stt", "runs_on": runs_on, "why": f"{why}; compute_type {s.compute_type}"}
