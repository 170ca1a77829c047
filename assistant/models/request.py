"""What one completion or chat reply is asked for, in the terms the text backends take.

The server's request bodies (server/schemas.py) are translated into a ``TextRequest`` at the
server's edge (server/text_request.py), so the models layer never reads a wire format: a local
model takes the sampler, stop strings and grammar; a remote one relays the fields the client
set, the structured output and the tool messages as the client gave them.
"""

from __future__ import annotations

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
