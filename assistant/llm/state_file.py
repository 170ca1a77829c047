"""A context's state file: its KV cache and the tokens it holds, written and read back.

``Context.save_state`` and ``Context.load_state`` hold the context and call these; the file is
llama.cpp's own session format, tied to the model that wrote it.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from assistant.llm.errors import ContextError


def save(ctx: Any, tokens: list[int], path: str | Path) -> None:
    """Write the cache of ``ctx`` (a LlamaContext) and ``tokens``, what it holds, to ``path``."""
    import llama_cpp

    ids = (llama_cpp.llama_token * len(tokens))(*tokens)
    if not llama_cpp.llama_state_save_file(ctx.ctx, str(path).encode(), ids, len(tokens)):
        raise ContextError(f"could not write the state to {path}")


def load(ctx: Any, n_ctx: int, path: str | Path) -> list[int]:
    """Restore the cache of ``ctx`` from ``path``; the tokens it now holds."""
    import llama_cpp

    ids = (llama_cpp.llama_token * n_ctx)()
    count = ctypes.c_size_t(0)
    if not llama_cpp.llama_state_load_file(
        ctx.ctx, str(path).encode(), ids, n_ctx, ctypes.byref(count)
    ):
        raise ContextError(
            f"could not load the state from {path}: another model, or a damaged file"
        )
    return list(ids[: count.value])
