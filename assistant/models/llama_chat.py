"""The local chat model, built on the library API (Model + Context).

A conversation's keeps one Context of its own, so every turn reuses the cached prefix (system
prompt and history) and only evaluates what is new. The server's chat requests each borrow one
on a context of its pool instead (``LocalText.pooled_chat``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator
from pathlib import Path

from assistant.errors import ModelError
from assistant.llm.context import Context
from assistant.llm.errors import ContextOverflowError, FeatureNotAvailableError, LlmError
from assistant.llm.grammar import Grammar
from assistant.llm.model import Model
from assistant.llm.sampling import SamplerParams
from assistant.llm.turn_end import TurnEndScore, open_prompt, score
from assistant.models.request import TextRequest, Usage
from assistant.types import ChatMessage


class LlamaChatModel:
    """A GGUF chat model; implements the LanguageModel interface."""

    free_grammar = True  # any GBNF grammar holds (see RemoteChatModel)
    scores_turn_end = True  # it reads its own next-token probabilities

    def __init__(
        self, model: Model, n_ctx: int = 2048, threads: int = 0, context: Context | None = None
    ) -> None:
        """A chat model with its own context (KV cache) on ``model``'s (shareable) weights.

        ``context``: one lent to it instead (a pool's), which ``close`` leaves to its owner.
        """
        self.threads = threads or os.cpu_count() or 1
        self.model, self.path = model, model.path
        self._owns_context = context is None
        self.context = context or Context(model, n_ctx=n_ctx, n_batch=512, n_threads=self.threads)
        self.n_ctx = self.context.n_ctx
        self.name = model.name or model.path.stem

    @classmethod
    def load(
        cls, path: Path, n_ctx: int = 2048, threads: int = 0, gpu_layers: int = 0
    ) -> LlamaChatModel:
        """Load a GGUF chat model (ModelError naming the fix when it cannot be used).

        ``gpu_layers``: layers offloaded to a GPU (-1: all), with a GPU build of llama.cpp.
        """
        try:
            model = Model.load(path, n_gpu_layers=gpu_layers)
            model.apply_chat_template([("user", "")])  # fails now if there is no template
            return cls(model, n_ctx, threads)
        except FeatureNotAvailableError as exc:
            raise ModelError(str(exc)) from None
        except LlmError as exc:
            raise ModelError(
                f"{exc}; fix llm.model or reinstall the default models with `make setup`"
            ) from None

    def prompt_tokens(self, messages: list[ChatMessage]) -> list[int]:
        """The chat template applied to ``messages`` (ready for the reply) as tokens."""
        return self.model.tokenize(
            self.model.apply_chat_template(messages), add_bos=True, special=True
        )

    def close(self) -> None:
        """Free this model's context (the weights stay with whoever else uses them)."""
        if self._owns_context:
            self.context.close()

    def reset(self) -> None:
        """Forget the cached prompt (the next call evaluates its prompt from scratch)."""
        self.context.clear_cache()

    def prefill(self, messages: list[ChatMessage], open_end: bool = False) -> None:
        """Evaluate ``messages`` now; later prompts that start the same way reuse the cache.

        ``open_end``: up to the user's last word (``turn_end.open_prompt``), which both the
        reply's prompt and the end-of-turn score start with.
        """
        if open_end:
            self.context.prefill(open_prompt(self.model, messages))
        else:
            self.context.prefill(self.prompt_tokens(messages))

    def turn_end(self, messages: list[ChatMessage]) -> TurnEndScore | None:
        """The model's opinion on the user's words ending the message (see ``turn_end.score``).

        The context's cache then holds the reply's prompt up to the words.
        """
        return score(self.context, messages)

    def interrupt(self) -> None:
        """Stop the evaluation running on this model's context now (it raises Interrupted)."""
        self.context.interrupt()

    def fit_history(self, messages: list[ChatMessage], max_tokens: int) -> list[ChatMessage]:
        """Drop the oldest non-system messages until the prompt and the reply fit ``n_ctx``."""
        system = [m for m in messages if m.role == "system"][:1]
        rest = [m for m in messages if m.role != "system"]
        while rest:
            if len(self.prompt_tokens(system + rest)) + max_tokens <= self.n_ctx:
                return system + rest
            rest = rest[1:]
        raise ContextOverflowError(
            f"the message does not fit the context window of {self.n_ctx} tokens; raise llm.n_ctx "
            "or lower llm.max_tokens"
        )

    def stream_chat(
        self,
        messages: list[ChatMessage],
        request: TextRequest,
        cancel: threading.Event,
        usage: Usage | None = None,
    ) -> Generator[str, None, str]:
        """Yield the reply piece by piece and return the finish reason (stop/length/cancelled)."""
        prompt = self.prompt_tokens(messages)
        if usage is not None:
            usage.prompt_tokens = len(prompt)
        r = request
        return (
            yield from self.stream_tokens(
                prompt, r.params, r.max_tokens, r.stop, cancel, r.grammar, usage
            )
        )

    def stream_tokens(
        self,
        prompt: list[int],
        params: SamplerParams,
        max_tokens: int | None,
        stop: list[str],
        cancel: threading.Event,
        grammar: Grammar | None = None,
        usage: Usage | None = None,
    ) -> Generator[str, None, str]:
        """Yield the continuation of a tokenised prompt (a cached shared prefix is reused).

        ``max_tokens`` None: until the model stops or the context is full. ``usage`` gets the
        context's own count and reason, not the reply's text tokenized again: that can come
        out a token shorter, and a reply cut at the limit would read as finished.
        """
        try:
            yield from self.context.generate_stream(
                prompt, max_tokens, params, stop, cancel, grammar=grammar
            )
        finally:  # also when closed early: what was generated counts
            if usage is not None:
                usage.cached_tokens = self.context.last_reused
                usage.completion_tokens = self.context.n_generated
                usage.finish_reason = self.context.finish_reason or None
        return "cancelled" if cancel.is_set() else self.context.finish_reason
