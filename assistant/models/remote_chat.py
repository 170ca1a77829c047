"""One conversation's chat model on an OpenAI-compatible server (``llm.backend = "openai"``).

The voice pipeline uses it like a local one. There is no tokenizer on this side, so the history
is fitted to ``n_ctx`` on an estimate of four characters per token; the remote server keeps its
own prompt cache, so prefilling is left to it. Grammars reach it as JSON schemas only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator
from typing import Any

from assistant.errors import ModelError
from assistant.llm.errors import ContextOverflowError
from assistant.llm.grammar import Grammar
from assistant.llm.openai_wire import estimate_tokens, plain_messages, streaming_body
from assistant.llm.sampling import SamplerParams
from assistant.models.openai_client import OpenAIClient
from assistant.types import ChatMessage

MESSAGE_OVERHEAD = 8  # tokens a chat template spends around each message


class RemoteChatModel:
    """A LanguageModel served over HTTP by an OpenAI-compatible server."""

    # OpenAI-compatible servers take a JSON schema (response_format), not any GBNF grammar.
    free_grammar = False

    def __init__(
        self, client: OpenAIClient, name: str = "", n_ctx: int = 2048, owns_client: bool = True
    ) -> None:
        """``name`` "" asks the server for its first model; ``owns_client``: close closes it."""
        self.client, self.base_url = client, client.base_url
        self.n_ctx = n_ctx
        self.name = name or client.first_model()
        self._owns_client = owns_client

    def prefill(self, messages: list[ChatMessage]) -> None:
        """Nothing to do here: the remote server caches prompts itself."""

    def interrupt(self) -> None:
        """Nothing to stop here: a reply stops with its ``cancel`` flag, between pieces."""

    def fit_history(self, messages: list[ChatMessage], max_tokens: int) -> list[ChatMessage]:
        """Drop the oldest non-system messages until the estimate fits ``n_ctx``."""
        system = [m for m in messages if m.role == "system"][:1]
        rest = [m for m in messages if m.role != "system"]
        while rest:
            if estimate_chat(system + rest) + max_tokens <= self.n_ctx:
                return system + rest
            rest = rest[1:]
        raise ContextOverflowError(
            f"the message does not fit the context window of {self.n_ctx} tokens; raise "
            "llm.n_ctx or lower llm.max_tokens"
        )

    def stream_chat(
        self,
        messages: list[ChatMessage],
        params: SamplerParams,
        max_tokens: int,
        stop: list[str],
        cancel: threading.Event,
        grammar: Grammar | None = None,
    ) -> Generator[str, None, str]:
        """Yield the reply piece by piece; return stop, length or cancelled.

        A ``grammar`` made from a JSON schema goes to the server as a ``json_schema`` response
        format; any other is a ModelError.
        """
        sampling: dict[str, Any] = {"temperature": params.temperature, "top_p": params.top_p}
        if params.seed:
            sampling["seed"] = params.seed
        if grammar is not None:
            sampling["response_format"] = _schema_format(grammar)
        body = streaming_body(
            self.name, max_tokens, stop, sampling, messages=chat_messages(messages)
        )
        reason = "stop"
        events = self.client.stream("/chat/completions", body)
        try:
            for event in events:
                if cancel.is_set():
                    return "cancelled"
                if event.text:
                    yield event.text
                reason = event.finish_reason or reason
        finally:
            events.close()  # closes the stream: the remote server stops generating
        return "length" if reason == "length" else "stop"

    def close(self) -> None:
        """Close the client, when it is this model's own."""
        if self._owns_client:
            self.client.close()


def _schema_format(grammar: Grammar) -> dict[str, Any]:
    if grammar.schema is None:
        raise ModelError("a remote chat model follows JSON schemas only, not other grammars")
    schema = json.loads(grammar.schema)
    return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}


def chat_messages(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """``messages`` as OpenAI chat messages."""
    return plain_messages((m.role, m.content) for m in messages)


def estimate_chat(messages: list[ChatMessage]) -> int:
    """Tokens of ``messages`` in a chat template, guessed without a tokenizer."""
    return estimate_tokens((m.content for m in messages), MESSAGE_OVERHEAD)
