"""Opening a llama.cpp context: the parameters a Context or an embedder asks for, checked.

Both ``Context`` (generation, decoding) and ``EmbeddingGenerator`` (several texts per call) sit
on one; the sizes, threads, sequences and pooling they ask for are set here, in one place.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

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


class StopFlag:
    """A flag that llama.cpp reads while it evaluates: once raised, the evaluation aborts.

    llama.cpp asks its abort callback at every node of the compute graph, hundreds of times per
    token. A Python callback would take the GIL each time, and wait whenever another thread
    holds it; libc's ``strlen`` over two bytes answers the same question (is the first byte
    set?) in C, without the GIL. A raised flag makes ``llama_decode`` return 2 (aborted).
    """

    def __init__(self, ctx: Any) -> None:
        import llama_cpp

        self._bytes = ctypes.create_string_buffer(2)  # b"\x01\x00": raised; b"\x00\x00": not
        llama_cpp.llama_set_abort_callback(ctx, _first_byte_set(), ctypes.addressof(self._bytes))

    @property
    def raised(self) -> bool:
        """Whether the evaluation running now is to stop."""
        return self._bytes.raw[0] != 0

    def raise_(self) -> None:
        """Stop the evaluation running now, within one step of its graph."""
        self._bytes[0] = b"\x01"

    def lower(self) -> None:
        """Let evaluations run again."""
        self._bytes[0] = b"\x00"


@functools.cache
def _first_byte_set() -> Any:
    """The C library's ``strlen`` as a ``ggml_abort_callback``: true once its flag is raised."""
    import llama_cpp

    strlen = ctypes.cast(ctypes.CDLL(None).strlen, ctypes.c_void_p).value
    assert strlen is not None  # the C library is always loaded
    return llama_cpp.ggml_abort_callback(strlen)


def probabilities(ctx: Any, n_vocab: int, ids: Sequence[int]) -> list[float]:
    """The probabilities of ``ids`` in the last row of logits ``ctx`` (a LlamaContext) computed.

    A softmax over the whole vocabulary, in float64 with the largest logit subtracted first,
    so that the small probabilities asked for (an end of message after a bare word can be
    1e-5) keep their digits.
    """
    import llama_cpp

    bad = [t for t in ids if not 0 <= t < n_vocab]
    if bad:
        raise ContextError(f"token id {bad[0]} is outside the vocabulary (0..{n_vocab - 1})")
    pointer = llama_cpp.llama_get_logits_ith(ctx.ctx, -1)
    if not pointer:
        raise ContextError("no logits: the last evaluation computed none")
    logits = np.ctypeslib.as_array(pointer, shape=(n_vocab,)).astype(np.float64)
    logits -= logits.max()
    log_total = np.log(np.exp(logits).sum())
    return [float(np.exp(logits[t] - log_total)) for t in ids]
