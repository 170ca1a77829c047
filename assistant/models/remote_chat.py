"""The chat model on an OpenAI-compatible server (``llm.backend = "openai"``).

The voice pipeline uses it like a local one, and the server relays its chat requests through
it (``RemoteText.pooled_chat``: a chat with tools goes as the client gave it). There is no
tokenizer on this side, so the history is fitted to ``n_ctx`` on an estimate of four characters
per token, and counts the remote server does not send are estimated; the remote server keeps
its own prompt cache, so prefilling is left to it. Grammars reach it as JSON schemas only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from assistant.errors import ModelError
from assistant.llm.errors import ContextOverflowError
from assistant.llm.grammar import Grammar
from assistant.llm.openai_wire import (
    CallPieces,
    StreamEvent,
    UpstreamError,
    estimate_tokens,
    plain_messages,
    streaming_body,
)
from assistant.models.openai_client import OpenAIClient
from assistant.models.request import TextRequest, Usage
from assistant.types import ChatMessage

if TYPE_CHECKING:
    from assistant.llm.turn_end import TurnEndScore

MESSAGE_OVERHEAD = 8  # tokens a chat template spends around each message


class RemoteChatModel:
    """A LanguageModel served over HTTP by an OpenAI-compatible server."""

    # OpenAI-compatible servers take a JSON schema (response_format), not any GBNF grammar.
    free_grammar = False
    # The OpenAI API returns no probability for a token that is not drawn (an end of message).
    scores_turn_end = False

    def __init__(
        self, client: OpenAIClient, name: str = "", n_ctx: int = 2048, owns_client: bool = True
    ) -> None:
        """``name`` "" asks the server for its first model; ``owns_client``: close closes it."""
        self.client, self.base_url = client, client.base_url
        self.n_ctx = n_ctx
        self.name = name or client.first_model()
        self._owns_client = owns_client

    def prefill(self, messages: list[ChatMessage], open_end: bool = False) -> None:
        """Nothing to do here: the remote server caches prompts itself."""

    def turn_end(self, messages: list[ChatMessage]) -> TurnEndScore | None:
        """None: a remote server gives no opinion on the end of a message."""
        return None

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
        request: TextRequest,
        cancel: threading.Event,
        usage: Usage | None = None,
    ) -> Generator[str, None, str]:
        """Yield the reply piece by piece; return stop, length or cancelled.

        ``request.relayed_chat`` (a chat with tools) goes in place of ``messages``; its
        ``response_format`` as given, else a ``grammar`` made from a JSON schema as a
        ``json_schema`` response format (any other grammar is a ModelError). With ``usage``
        the server is asked for its token counts (``stream_options``).
        """
        payload = request.relayed_chat or {"messages": chat_messages(messages)}
        shape = request.response_format
        if shape is None and request.grammar is not None:
            shape = _schema_format(request.grammar)
        if shape is not None:
            payload = {**payload, "response_format": shape}
        body = streaming_body(
            self.name,
            request.max_tokens,
            request.stop,
            request.relayed_sampling,
            usage is not None,
            **payload,
        )
        events = self.client.stream("/chat/completions", body)
        guess = estimate_chat(messages)
        return (yield from read_reply(events, cancel, usage or Usage(), guess, self.base_url))

    def close(self) -> None:
        """Close the client, when it is this model's own."""
        if self._owns_client:
            self.client.close()


def _schema_format(grammar: Grammar) -> dict[str, Any]:
    if grammar.schema is None:
        raise ModelError("a remote chat model follows JSON schemas only, not other grammars")
    schema = json.loads(grammar.schema)
    return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}


_CUT_SHORT = (
    "the model server at {} ended the reply without saying why (no finish_reason): it was cut "
    "short (llama-cpp-python's own server does that to a reply when another request comes, "
    "unless started with --interrupt_requests False)"
)


def read_reply(
    events: Generator[StreamEvent, None, None],
    cancel: threading.Event,
    usage: Usage,
    guess: int,
    base_url: str,
) -> Generator[str, None, str]:
    """Yield the text of a streamed completion; return stop, length or cancelled.

    A tool call the server made comes last, written as the local model writes one. ``usage``
    gets the server's counts and finish reason; where it sends no counts, ``guess`` for the
    prompt and one token per event for the reply (what such servers stream). A stream that
    ends without a finish reason was cut short, whatever it held: UpstreamError, not a reply
    passed off as complete.
    """
    pieces, call, reason = 0, CallPieces(), "stop"
    try:
        for event in events:
            if cancel.is_set():
                return "cancelled"
            if event.text:
                pieces += 1
                yield event.text
            call.add(event.tool_calls)
            usage.finish_reason = event.finish_reason or usage.finish_reason
            usage.prompt_tokens = event.prompt_tokens or usage.prompt_tokens
            usage.completion_tokens = event.completion_tokens or usage.completion_tokens
        if not usage.finish_reason:
            raise UpstreamError(_CUT_SHORT.format(base_url))
        if call.seen:
            yield call.text()
        reason = "length" if usage.finish_reason == "length" else "stop"
    finally:
        events.close()  # closes the stream: the remote server stops generating
        usage.prompt_tokens = usage.prompt_tokens or guess
        usage.completion_tokens = usage.completion_tokens or pieces
    return reason


def chat_messages(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """``messages`` as OpenAI chat messages."""
    return plain_messages((m.role, m.content) for m in messages)


def estimate_chat(messages: list[ChatMessage]) -> int:
    """Tokens of ``messages`` in a chat template, guessed without a tokenizer."""
    return estimate_tokens((m.content for m in messages), MESSAGE_OVERHEAD)
