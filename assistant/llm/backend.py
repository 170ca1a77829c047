"""What the llama.cpp build can do: back-end set-up and the hardware it sees."""

from __future__ import annotations

from typing import Any


def _lib() -> Any:
    """llama_cpp, imported on first use (it takes a moment, and most commands never need it)."""
    import llama_cpp

    return llama_cpp


def backend_init() -> None:
    """Initialise llama.cpp's back-ends (done on import already; harmless to repeat)."""
    _lib().llama_backend_init()


def backend_free() -> None:
    """Release llama.cpp's back-ends at the very end of a program."""
    _lib().llama_backend_free()


def supports_gpu_offload() -> bool:
    """Whether this build can put layers on a GPU (``n_gpu_layers``)."""
    return bool(_lib().llama_supports_gpu_offload())


def system_info() -> str:
    """The CPU features and back-ends llama.cpp was built with."""
    return bytes(_lib().llama_print_system_info()).decode("utf-8", errors="replace").strip()


def max_devices() -> int:
    """How many devices llama.cpp can split a model across."""
    return int(_lib().llama_max_devices())


def quiet_logs() -> None:
    """Keep llama.cpp's load-time chatter off stderr (shown with ``assistant -v``)."""
    import logging

    from llama_cpp._logger import set_verbose

    set_verbose(logging.getLogger("assistant").isEnabledFor(logging.DEBUG))
