"""What one completion or chat reply is asked for, and what it took, in the models' terms.

Every chat model (``LanguageModel.stream_chat``) and the server's raw completions take a
``TextRequest``. The server's request bodies (server/schemas.py) are translated into one at the
server's edge (server/text_request.py), so the models layer never reads a wire format; the
voice pipeline makes its own from the sampler (``TextRequest.of``). A local model takes the
sampler, stop strings and grammar; a remote one relays the sampler fields asked for, the
structured output and the tool messages as the client gave them. ``Usage`` is filled in as the
reply ends: its token counts and why it ended, as the model itself counted them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.llm.grammar import Grammar
from assistant.llm.sampling import SamplerParams


@dataclass(frozen=True)
class TextRequest:
    """The sampling, limits and structure of one reply."""

    max_tokens: int | None = 100  # None: until the model stops or the context is full
    params: SamplerParams = field(default_factory=SamplerParams)
    stop: list[str] = field(default_factory=list)
    grammar: Grammar | None = None  # the reply follows it (a local model)
    # What only a remote server is given (left empty for a local model):
    # The sampler fields the client set, in OpenAI's names: a remote server keeps its own
    # defaults for the others.
    relayed_sampling: dict[str, Any] = field(default_factory=dict)
    # The structured output as an OpenAI-compatible server takes it (``response_format``).
    response_format: dict[str, Any] | None = None
    # A chat with tools as an OpenAI-compatible server takes it (``messages`` with their calls
    # and results, ``tools``, ``tool_choice``); None for a chat without tools.
    relayed_chat: dict[str, Any] | None = None

    @classmethod
    def of(
        cls,
        params: SamplerParams,
        max_tokens: int | None,
        stop: list[str],
        grammar: Grammar | None = None,
    ) -> TextRequest:
        """A reply sampled with ``params``: a remote server is sent its temperature, top_p, seed.

        The server's own requests relay only what its client set instead (text_request.py).
        """
        sampling: dict[str, Any] = {"temperature": params.temperature, "top_p": params.top_p}
        if params.seed:  # 0 means a random seed here, a fixed one elsewhere
            sampling["seed"] = params.seed
        return cls(max_tokens, params, list(stop), grammar, relayed_sampling=sampling)


@dataclass
class Usage:
    """Token counts and finish reason of one reply (final once its stream has ended)."""

    prompt_tokens: int = 0
    cached_tokens: int = 0  # of the prompt, found in the cache and not evaluated again
    completion_tokens: int = 0
    # stop | length | cancelled, or a remote server's own (tool_calls...); None: judged from
    # the counts (a remote server that names none)
    finish_reason: str | None = None
    count_prompt: Callable[[], int] | None = None  # counts the prompt when first asked

    def prompt(self) -> int:
        """Tokens of the prompt (counted now if that was left until asked)."""
        if self.count_prompt is not None:
            self.prompt_tokens, self.count_prompt = self.count_prompt(), None
        return self.prompt_tokens
