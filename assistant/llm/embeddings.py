"""Sentence embeddings: one vector per text, from a dedicated embedding GGUF or a chat model.

A chat model has no pooling of its own, so its token vectors are averaged (mean pooling); an
embedding model's own pooling (CLS, mean, last) is used as the GGUF declares it. ``embed_batch``
packs many texts into one llama.cpp call, one sequence each, which is much faster than a loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from assistant.llm.errors import ContextOverflowError, GenerationError
from assistant.llm.llama_context import open_context
from assistant.llm.model import Model

Vector = npt.NDArray[np.float32]
_MAX_SEQUENCES = 16  # texts per llama.cpp call
_BATCH_TOKENS = 2048  # tokens per llama.cpp call


class EmbeddingGenerator:
    """Embeds texts with ``model``; vectors are L2-normalised unless ``normalize=False``."""

    def __init__(
        self, model: Model, n_ctx: int = 512, normalize: bool = True, n_threads: int = 0
    ) -> None:
        from llama_cpp._internals import LlamaBatch

        size = max(n_ctx, _BATCH_TOKENS)  # tokens per call, all texts of the call together
        self._ctx = open_context(model, size, size, size, n_threads, True, _MAX_SEQUENCES)
        self._batch = LlamaBatch(n_tokens=size, embd=0, n_seq_max=_MAX_SEQUENCES, verbose=False)
        self.model = model
        self.n_ctx = n_ctx  # most tokens per text
        self._n_batch = size  # most tokens per llama.cpp call
        self.normalize = normalize

    @property
    def n_embd(self) -> int:
        """Length of the vectors."""
        return self.model.n_embd

    def close(self) -> None:
        """Free the embedding context now (before the model's weights go)."""
        self._batch.close()
        self._ctx.close()

    def embed(self, text: str) -> Vector:
        """The vector of one text."""
        return self.embed_batch([text])[0]

    def embed_batch(self, texts: Sequence[str]) -> list[Vector]:
        """The vectors of many texts, in order."""
        vectors: list[Vector] = []
        group: list[list[int]] = []
        for tokens in (self._tokens(t) for t in texts):
            if group and (
                len(group) == _MAX_SEQUENCES or sum(map(len, group)) + len(tokens) > self._n_batch
            ):
                vectors += self._run(group)
                group = []
            group.append(tokens)
        return vectors + (self._run(group) if group else [])

    def _tokens(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"embed takes str, not {type(text).__name__}")
        tokens = self.model.tokenize(text, add_bos=True)
        if len(tokens) > self.n_ctx:
            raise ContextOverflowError(
                f"a text of {len(tokens)} tokens is longer than n_ctx={self.n_ctx}; "
                "split it or raise n_ctx"
            )
        return tokens or [self.model.token_eos]

    def _run(self, token_lists: list[list[int]]) -> list[Vector]:
        import llama_cpp

        self._ctx.kv_cache_clear()
        self._batch.reset()
        for seq, tokens in enumerate(token_lists):
            self._batch.add_sequence(tokens, seq, logits_all=True)  # pooling reads every token
        try:
            self._ctx.decode(self._batch)
        except RuntimeError as exc:
            raise GenerationError(f"llama.cpp could not embed the texts ({exc})") from None
        out = []
        for seq in range(len(token_lists)):
            pointer = llama_cpp.llama_get_embeddings_seq(self._ctx.ctx, seq)
            vector = np.ctypeslib.as_array(pointer, shape=(self.n_embd,)).astype(np.float32)
            out.append(_unit(vector) if self.normalize else vector)
        return out


def _unit(vector: Vector) -> Vector:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def cosine_similarity(a: Sequence[float] | Vector, b: Sequence[float] | Vector) -> float:
    """Cosine of the angle between two vectors (1 = same); ValueError if their lengths differ."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"vectors of different lengths: {x.shape[0]} and {y.shape[0]}")
    denominator = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y / denominator) if denominator else 0.0
