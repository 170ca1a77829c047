"""The chat model on llama.cpp: the model's own chat template, streaming, cancellation."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, cast

from assistant.errors import ModelError
from assistant.interfaces import ChatMessage
from assistant.llm.errors import FeatureNotAvailableError
from assistant.llm.sampling import SamplerParams
from assistant.llm.template import ChatTemplate


class LlamaChatModel:
    """A GGUF chat model; implements the LanguageModel interface."""

    def __init__(self, path: Path, n_ctx: int = 2048, threads: int = 0) -> None:
        from llama_cpp import Llama

        threads = threads or os.cpu_count() or 1
        try:
            self._llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"model file {path} could not be loaded as a GGUF chat model ({exc}); "
                "fix llm.model "
                "or reinstall the default models with `make setup`"
            ) from None
        meta, vocab = self._llama.metadata, self._llama
        try:
            self._template = ChatTemplate(
                meta.get("tokenizer.chat_template"),
                bos_token=vocab.detokenize([vocab.token_bos()], special=True).decode(
                    errors="replace"
                ),
                eos_token=vocab.detokenize([vocab.token_eos()], special=True).decode(
                    errors="replace"
                ),
                source=str(path),
            )
        except FeatureNotAvailableError as exc:
            raise ModelError(str(exc)) from None
        self.path = path
        self.threads = threads
        self.n_ctx = self._llama.n_ctx()
        self.name = str(meta.get("general.name", path.stem))

    def prompt_tokens(self, messages: list[ChatMessage]) -> list[int]:
        """The chat template applied to ``messages`` (ready for the reply) as tokens."""
        prompt = self._template.render(messages)
        return list(self._llama.tokenize(prompt.encode(), add_bos=True, special=True))

    def reset(self) -> None:
        """Forget the cached prompt (the next call evaluates its prompt from scratch)."""
        self._llama.reset()

    def prefill(self, messages: list[ChatMessage]) -> None:
        """Evaluate ``messages`` now; later prompts that start the same way reuse the cache.

        What the cache already holds of this prompt is kept, so only the new part is evaluated.
        """
        llama, tokens = self._llama, self.prompt_tokens(messages)
        cached = llama.input_ids[: llama.n_tokens].tolist()
        keep = 0
        for a, b in zip(cached, tokens[:-1], strict=False):  # the last token is always re-run
            if a != b:
                break
            keep += 1
        llama.n_tokens = keep  # eval() drops the cache from here on
        llama.eval(tokens[keep:])

    def fit_history(self, messages: list[ChatMessage], max_tokens: int) -> list[ChatMessage]:
        """Drop the oldest non-system messages until the prompt and the reply fit ``n_ctx``."""
        system = [m for m in messages if m.role == "system"][:1]
        rest = [m for m in messages if m.role != "system"]
        while rest:
            if len(self.prompt_tokens(system + rest)) + max_tokens <= self.n_ctx:
                return system + rest
            rest = rest[1:]
        raise ValueError(
            f"the message does not fit the context window of {self.n_ctx} tokens; raise llm.n_ctx "
            "or lower llm.max_tokens"
        )

    def stream_chat(
        self,
        messages: list[ChatMessage],
        params: SamplerParams,
        max_tokens: int,
        stop: list[str],
        cancel: threading.Event,
    ) -> Generator[str, None, str]:
        """Yield the reply piece by piece and return the finish reason (stop/length/cancelled)."""
        prompt = self.prompt_tokens(messages)
        return (yield from self.stream_tokens(prompt, params, max_tokens, stop, cancel))

    def stream_tokens(
        self,
        prompt: list[int],
        params: SamplerParams,
        max_tokens: int,
        stop: list[str],
        cancel: threading.Event,
    ) -> Generator[str, None, str]:
        """Yield the continuation of a tokenised prompt (a cached shared prefix is reused)."""
        from llama_cpp import StoppingCriteriaList

        last_n = params.penalty_last_n
        self._llama.last_n_tokens_size = self.n_ctx if last_n < 0 else last_n
        chunks = cast(
            Iterator[Any],
            self._llama.create_completion(
                prompt,
                stream=True,
                max_tokens=max_tokens,
                stop=stop,
                seed=params.seed or random.randrange(1, 2**31),
                stopping_criteria=StoppingCriteriaList([lambda _ids, _logits: cancel.is_set()]),
                temperature=params.temperature,
                top_k=params.top_k,
                top_p=params.top_p,
                min_p=params.min_p,
                typical_p=params.typical_p,
                repeat_penalty=params.penalty_repeat,
                frequency_penalty=params.penalty_freq,
                presence_penalty=params.penalty_present,
            ),
        )
        finish = "stop"
        for chunk in chunks:
            if cancel.is_set():
                return "cancelled"
            choice = chunk["choices"][0]
            finish = choice.get("finish_reason") or finish
            if choice["text"]:
                yield choice["text"]
        return "cancelled" if cancel.is_set() else finish
