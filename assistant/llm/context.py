"""Context: a model's working memory (KV cache) for generation, decoding and embeddings.

A Context belongs to one Model; several Contexts can share it. Use one per thread, or the pool
of the async API. A Context still never runs two calls at once: a second caller waits for the
first (a generation holds the context until its stream ends or is closed), and ``close`` waits
for the call in progress, because llama.cpp aborts or crashes on a context that two threads
decode on, or that is freed under a decode. ``interrupt`` (and ``close``, first) stops that call
within one step of llama.cpp's graph: a prompt is one uninterruptible call otherwise, seconds
long on a busy machine.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from assistant.llm import state_file
from assistant.llm.errors import ContextError, ContextOverflowError, GenerationError, Interrupted
from assistant.llm.grammar import Grammar
from assistant.llm.llama_context import StopFlag, open_context, probabilities
from assistant.llm.model import Model
from assistant.llm.sampler import build_sampler
from assistant.llm.sampling import SamplerParams
from assistant.llm.textstream import TextAssembler


class Context:
    """Inference state over a Model. ``n_ctx=0`` uses the model's training length."""

    def __init__(
        self,
        model: Model,
        n_ctx: int = 0,
        n_batch: int = 2048,
        n_threads: int = 0,
        embeddings: bool = False,
    ) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaBatch

        if n_ctx < 0 or n_batch < 1 or n_threads < 0:
            raise ContextError(
                f"bad context size: n_ctx={n_ctx}, n_batch={n_batch}, n_threads={n_threads}"
            )
        self._ctx = open_context(
            model, n_ctx or model.n_ctx_train, n_batch, min(n_batch, 512), n_threads, embeddings
        )
        # llama.cpp may adjust the sizes (a window of at least 256, a batch no larger than it)
        self._n_batch = int(llama_cpp.llama_n_batch(self._ctx.ctx))
        self._batch = LlamaBatch(n_tokens=self._n_batch, embd=0, n_seq_max=1, verbose=False)
        self.model = model
        self.embeddings = embeddings
        self._tokens: list[int] = []  # what the KV cache holds, in order
        self.finish_reason = ""  # why the last generation ended: stop | length | cancelled
        self.n_generated = 0  # tokens the last generation drew (its end-of-generation token not)
        self.n_evaluated = 0  # tokens llama.cpp has evaluated on this context, prompts and replies
        self.last_reused = 0  # tokens of the last prompt read (or decoded after) the cache held
        # Not an RLock: a stream may be closed from another thread than the one that began it.
        self._busy = threading.Lock()
        self._closed = False
        self._stop = StopFlag(self._ctx.ctx)

    @contextlib.contextmanager
    def _in_use(self) -> Iterator[None]:
        """Hold the context for one call; ContextError once it was closed."""
        with self._busy:
            if self._closed:
                raise ContextError("this context was closed")
            self._stop.lower()  # an interruption asked for before this call is not for it
            yield

    @property
    def n_ctx(self) -> int:
        """Size of the context window in tokens."""
        return int(self._ctx.n_ctx())

    @property
    def n_batch(self) -> int:
        """Most tokens evaluated in one llama.cpp call."""
        return self._n_batch

    @property
    def n_cached(self) -> int:
        """Tokens currently held in the cache."""
        return len(self._tokens)

    # --- evaluation ----------------------------------------------------------------------

    def decode(self, tokens: list[int]) -> None:
        """Evaluate ``tokens`` after what the cache holds."""
        with self._in_use():
            self.last_reused = len(self._tokens)
            self._decode(tokens)

    def _decode(self, tokens: list[int]) -> None:
        total = len(self._tokens) + len(tokens)
        if total > self.n_ctx:
            raise ContextOverflowError(
                f"{total} tokens do not fit the context window of {self.n_ctx}; "
                "clear_cache() or create the Context with a larger n_ctx"
            )
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            self._batch.set_batch(chunk, n_past=len(self._tokens), logits_all=self.embeddings)
            try:
                self._ctx.decode(self._batch)
            except RuntimeError as exc:
                if self._stop.raised:  # nothing of the chunk stays: the cache matches _tokens
                    self._cut(len(self._tokens))
                    raise Interrupted("the evaluation was interrupted") from None
                raise GenerationError(f"llama.cpp could not evaluate the tokens ({exc})") from None
            self._tokens += chunk
            self.n_evaluated += len(chunk)

    def _cut(self, keep: int) -> None:
        """Make the cache hold its first ``keep`` tokens, or nothing where it cannot.

        llama.cpp refuses to remove part of a recurrent model's state (its removal returns
        False and leaves the state as it was); the cache is then cleared, so that ``_tokens``
        never claims what the cache does not hold.
        """
        if not self._ctx.kv_cache_seq_rm(-1, keep, -1):
            self._ctx.kv_cache_clear()
            keep = 0
        self._tokens = self._tokens[:keep]

    def clear_cache(self) -> None:
        """Forget everything evaluated so far."""
        with self._in_use():
            self._ctx.kv_cache_clear()
            self._tokens = []

    def prefill(self, tokens: list[int]) -> None:
        """Make the cache hold exactly ``tokens``, reusing the part it already has.

        A later generation whose prompt starts with these tokens only evaluates the rest.
        """
        with self._in_use():
            self._prefill(tokens)

    def _prefill(self, tokens: list[int]) -> None:
        keep = 0
        for cached, wanted in zip(self._tokens, tokens[:-1], strict=False):  # re-run the last one
            if cached != wanted:
                break
            keep += 1
        if keep < len(self._tokens):
            self._cut(keep)
        self.last_reused = len(self._tokens)
        self._decode(tokens[len(self._tokens) :])

    def next_token_probabilities(self, tokens: list[int], ids: Sequence[int]) -> list[float]:
        """The probability of each of ``ids`` coming next after ``tokens``.

        The cache then holds ``tokens``, read as ``prefill`` reads them: a prompt that starts
        with them only evaluates the rest.
        """
        if not tokens:
            raise ContextError("the tokens to read are empty")
        with self._in_use():
            self._prefill(tokens)
            return probabilities(self._ctx, self.model.n_vocab, ids)

    # --- generation ----------------------------------------------------------------------

    def generate(
        self,
        prompt: str | list[int],
        max_tokens: int | None = 100,
        params: SamplerParams | None = None,
        stop: list[str] | None = None,
        *,
        grammar: Grammar | None = None,
    ) -> str:
        """The whole continuation of ``prompt`` (following ``grammar``, if given)."""
        return "".join(self.generate_stream(prompt, max_tokens, params, stop, grammar=grammar))

    def generate_stream(
        self,
        prompt: str | list[int],
        max_tokens: int | None = 100,
        params: SamplerParams | None = None,
        stop: list[str] | None = None,
        cancel: threading.Event | None = None,
        *,
        grammar: Grammar | None = None,
    ) -> Iterator[str]:
        """Yield the continuation piece by piece; a piece never ends inside a UTF-8 character.

        ``max_tokens`` None: until the model stops or the window is full. Afterwards
        ``finish_reason`` says why it ended (``length``: every allowed token was drawn).
        Setting ``cancel`` (from any thread) ends the stream after the current token. The
        context is held from the first piece asked for until the stream ends or is closed.
        With ``grammar`` the output follows it (ConfigurationError, before any piece, for a
        grammar llama.cpp cannot parse).
        """
        with self._in_use():
            yield from self._stream(prompt, max_tokens, params, stop, cancel, grammar)

    def _stream(
        self,
        prompt: str | list[int],
        max_tokens: int | None,
        params: SamplerParams | None,
        stop: list[str] | None,
        cancel: threading.Event | None,
        grammar: Grammar | None = None,
    ) -> Iterator[str]:
        tokens = (
            self.model.tokenize(prompt, add_bos=True, special=True)
            if isinstance(prompt, str)
            else list(prompt)
        )
        if not tokens:
            raise ContextError("the prompt is empty")
        if len(tokens) >= self.n_ctx:
            raise ContextOverflowError(
                f"the prompt has {len(tokens)} tokens but the context window holds {self.n_ctx}; "
                "shorten it or create the Context with a larger n_ctx"
            )
        sampler = build_sampler(
            params or SamplerParams(), self.model.n_vocab, self.n_ctx, grammar, self.model.vocab
        )
        self._prefill(tokens)
        text = TextAssembler(stop)
        # "cancelled" until it ends on its own (a reader closing the stream ends it early);
        # "length" once it has drawn every token allowed, whatever text was still held back
        self.finish_reason, self.n_generated = "cancelled", 0
        reason = "length"
        room = self.n_ctx - len(self._tokens)
        for _ in range(room if max_tokens is None else min(max_tokens, room)):
            if cancel is not None and cancel.is_set():
                return
            token = int(sampler.sample(self._ctx, -1))
            if self.model.token_is_eog(token):
                reason = "stop"
                break
            self.n_generated += 1
            piece = text.push(self.model.detokenize_bytes([token]))
            if piece:
                yield piece
            if text.stopped:
                self.finish_reason = "stop"
                return
            self._decode([token])
        self.finish_reason = reason
        rest = text.finish()
        if rest:
            yield rest

    # --- embeddings and state ------------------------------------------------------------

    def get_embeddings(self) -> npt.NDArray[np.float32]:
        """The pooled embedding of what was last evaluated (needs ``embeddings=True``)."""
        if not self.embeddings:
            raise ContextError("this Context was created without embeddings=True")
        import llama_cpp

        with self._in_use():
            pointer = llama_cpp.llama_get_embeddings_seq(self._ctx.ctx, 0)
            if not pointer:
                raise ContextError("no embeddings yet: decode some text first")
            return np.ctypeslib.as_array(pointer, shape=(self.model.n_embd,)).astype(np.float32)

    def save_state(self, path: str | Path) -> None:
        """Write the cache and its tokens to ``path``; ``load_state`` resumes from it."""
        with self._in_use():
            state_file.save(self._ctx, self._tokens, path)

    def load_state(self, path: str | Path) -> None:
        """Restore a state written by ``save_state`` (same model, same or larger window)."""
        if not Path(path).is_file():
            raise ContextError(f"state file {path} not found")
        with self._in_use():
            self._tokens = state_file.load(self._ctx, self.n_ctx, path)

    def interrupt(self) -> None:
        """Stop the call in progress, if any: it raises Interrupted; later calls run as usual."""
        self._stop.raise_()

    def close(self) -> None:
        """Free the cache, once the call in progress (if any) is stopped; closing twice is fine."""
        self.interrupt()
        with self._busy:
            if self._closed:
                return
            self._closed = True
            self._batch.close()
            self._ctx.close()

    def __repr__(self) -> str:
        return f"Context(n_ctx={self.n_ctx}, n_batch={self.n_batch}, cached={len(self._tokens)})"
