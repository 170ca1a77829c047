"""Opening a llama.cpp context: the parameters a Context or an embedder asks for, checked.

Both ``Context`` (generation, decoding) and ``EmbeddingGenerator`` (several texts per call) sit
on one; the sizes, threads, sequences and pooling they ask for are set here, in one place.
"""

from __future__ import annotations

import os
from typing import Any

from assistant.llm.backend import quiet_logs
from assistant.llm.errors import ContextError
from assistant.llm.model import Model


def open_context(
    model: Model,
    n_ctx: int,
    n_batch: int,
    n_ubatch: int,
    n_threads: int = 0,
    embeddings: bool = False,
    n_seq_max: int = 1,
) -> Any:
    """A llama.cpp context over ``model``; ContextError with the fix if it cannot be made."""
    import llama_cpp
    from llama_cpp._internals import LlamaContext

    quiet_logs()
    params = llama_cpp.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_ubatch = n_ctx, n_batch, n_ubatch
    params.n_threads = params.n_threads_batch = n_threads or os.cpu_count() or 1
    params.n_seq_max = n_seq_max
    params.kv_unified = n_seq_max > 1  # several texts in one cache, kept apart by sequence id
    params.embeddings = embeddings
    if embeddings:
        params.pooling_type = model.pooling
    try:
        return LlamaContext(model=model._handle, params=params, verbose=False)
    except ValueError as exc:
        raise ContextError(
            f"could not create a context of {n_ctx} tokens ({exc}); try a smaller n_ctx"
        ) from None
