"""Request bodies of the native and OpenAI-compatible APIs (validated by pydantic)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from assistant.errors import InputError
from assistant.llm.grammar import Grammar
from assistant.llm.sampling import SamplerParams
from assistant.server.formats import ResponseFormat, grammar_for, relayed_format
from assistant.server.tools import ToolUse, tool_use

SEED_MAX = 2**32 - 1  # llama.cpp's seeds are 32-bit


def _check_text(value: Any) -> None:
    """ValueError for a string anywhere in ``value`` that is not valid Unicode text.

    JSON can carry lone surrogates (an escaped unpaired half of a UTF-16 pair), which Python
    decodes into strings that cannot be encoded again: they would fail deep inside a tokenizer
    instead of here.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                "text holds a lone surrogate (an unpaired \\ud800-\\udfff escape); "
                "send valid Unicode"
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


_DURATION = re.compile(r"^(-?\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def keep_seconds(value: float | str) -> float:
    """A keep_alive as seconds, -1 for "always" (ValueError for what is not a duration)."""
    if isinstance(value, str):
        found = _DURATION.match(value.strip())
        if found is None:
            raise ValueError(f"{value!r} is not a duration: seconds, or 30s, 5m, 1h")
        value = float(found.group(1)) * _UNIT_S[found.group(2) or "s"]
    return -1.0 if value < 0 else float(value)


class Body(BaseModel):
    """A request body: every string in it must be valid Unicode (else a 422)."""

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        _check_text(data)
        return data


class Sampling(Body):
    """Sampler fields a request may set; unset ones use the reference defaults."""

    temperature: float | None = Field(None, ge=0.0, le=5.0)
    top_k: int | None = Field(None, ge=0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    min_p: float | None = Field(None, ge=0.0, le=1.0)
    typical_p: float | None = Field(None, ge=0.0, le=1.0)
    repeat_penalty: float | None = Field(None, ge=0.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    seed: int | None = Field(None, ge=0, le=SEED_MAX)
    stop: str | list[str] | None = None
    # OpenAI's: token id (as a string) -> -100..100 added to its logit
    logit_bias: dict[str, float] | None = None
    # Ollama's: how long the chat model stays loaded after this request (seconds, or "5m",
    # "30s", "1h"; negative: always), until another request says otherwise
    keep_alive: float | str | None = None
    # None (null): until the model stops or the context is full
    max_tokens: int | None = Field(100, ge=1, le=8192)
    stream: bool = False
    response_format: ResponseFormat | None = None  # OpenAI's structured output
    format: str | dict[str, Any] | None = None  # Ollama's: "json" or a JSON schema

    _tool_grammar: Grammar | None = PrivateAttr(None)

    def hold_to(self, grammar: Grammar | None) -> None:
        """Make the reply follow ``grammar`` (a tool call's); InputError beside a format."""
        if self.response_format is not None or self.format is not None:
            raise InputError("give tools or a response format (response_format, format), not both")
        self._tool_grammar = grammar

    def grammar(self) -> Grammar | None:
        """The grammar the reply must follow, if any (InputError naming a bad field)."""
        return self._tool_grammar or grammar_for(self.response_format, self.format)

    @field_validator("logit_bias")
    @classmethod
    def _token_biases(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for token, bias in (value or {}).items():
            if not token.isdigit():
                raise ValueError(f"keys are token ids, not {token!r}")
            if not -100 <= bias <= 100:
                raise ValueError(f"the bias of token {token} is {bias}, outside -100..100")
        return value

    @field_validator("keep_alive")
    @classmethod
    def _duration(cls, value: float | str | None) -> float | str | None:
        if value is not None:
            keep_seconds(value)
        return value

    def keep_alive_s(self) -> float | None:
        """``keep_alive`` in seconds (-1: always), if the request gave one."""
        return None if self.keep_alive is None else keep_seconds(self.keep_alive)

    def relayed_format(self) -> dict[str, Any] | None:
        """The structured output asked for, as a remote OpenAI-compatible server takes it."""
        return relayed_format(self.response_format, self.format)

    def params(self) -> SamplerParams:
        """These fields as SamplerParams."""
        p = SamplerParams()
        names = {
            "repeat_penalty": "penalty_repeat",
            "frequency_penalty": "penalty_freq",
            "presence_penalty": "penalty_present",
        }
        for field in ("temperature", "top_k", "top_p", "min_p", "typical_p", "seed", *names):
            value = getattr(self, field)
            if value is not None:
                setattr(p, names.get(field, field), value)
        p.logit_bias = {int(token): bias for token, bias in (self.logit_bias or {}).items()}
        return p

    def stops(self) -> list[str]:
        """Stop strings as a list."""
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class Message(BaseModel):
    """One chat message: text (OpenAI content parts are joined) and pictures.

    Pictures come as ``images`` (base64, as in Ollama's API) or as OpenAI ``image_url`` content
    parts (``data:`` URIs; a web address is refused, nothing is fetched).
    """

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[dict[str, object]] | None = ""
    images: list[str] | None = None

    def text(self) -> str:
        """The message's text."""
        if isinstance(self.content, list):
            return "".join(
                str(part.get("text", "")) for part in self.content if part.get("type") == "text"
            )
        return self.content or ""

    def pictures(self) -> list[str]:
        """Its images as given: base64 text or ``data:`` URIs."""
        found = list(self.images or [])
        for part in self.content if isinstance(self.content, list) else []:
            if part.get("type") == "image_url":
                url = part.get("image_url")
                found.append(str(url.get("url", "") if isinstance(url, dict) else url))
        return found


class StreamOptions(BaseModel):
    """OpenAI's ``stream_options``."""

    include_usage: bool = False


class OpenAIStreaming(Sampling):
    """What the OpenAI endpoints add for streams: a final chunk with ``usage`` on request."""

    stream_options: StreamOptions | None = None

    @property
    def include_usage(self) -> bool:
        """Whether the stream ends with a usage chunk."""
        return bool(self.stream and self.stream_options and self.stream_options.include_usage)


class DoneEvent(Body):
    """The native streams' opt-in: a summary event before ``data: [DONE]``."""

    # The reference's stream is token events then [DONE]; a client that reads every event's
    # "token" (the reference's own Python client) fails on anything else.
    done_event: bool = Field(
        False,
        description='with "stream": true, end with {"done": true, "text", counts, finish_reason}',
    )


class GenerateRequest(Sampling, DoneEvent):
    """POST /api/generate."""

    prompt: str = Field(min_length=1)


class ChatRequest(OpenAIStreaming):
    """POST /api/chat and /v1/chat/completions."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None  # one call per reply either way

    def tool_use(self) -> ToolUse | None:
        """The tools the reply may call, checked (InputError naming the field)."""
        return tool_use(self.tools, self.tool_choice)

    def picture(self) -> tuple[str, str] | None:
        """The last picture of the conversation and the last user words ("" for none), if any.

        A vision model answers a picture on its own: small ones have short contexts, and the
        picture is what the question is about.
        """
        pictures = [p for m in self.messages for p in m.pictures()]
        if not pictures:
            return None
        asked = [m.text() for m in self.messages if m.role == "user"]
        return pictures[-1], asked[-1] if asked else ""


class NativeChatRequest(ChatRequest, DoneEvent):
    """POST /api/chat."""


class OpenAIChatRequest(ChatRequest):
    """POST /v1/chat/completions: OpenAI's defaults where a field is unset.

    No ``max_tokens`` (nor its newer name ``max_completion_tokens``) means no limit but the
    context, as at OpenAI and on llama.cpp's server.
    """

    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)

    @model_validator(mode="after")
    def _newer_name(self) -> OpenAIChatRequest:
        if self.max_tokens is None:
            self.max_tokens = self.max_completion_tokens
        return self


class CompletionRequest(OpenAIStreaming):
    """POST /v1/completions."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    prompt: str = Field(min_length=1)
    # Unset is no limit but the context, as on llama.cpp's server (OpenAI's legacy 16 would
    # cut most answers a client of this server expects whole).
    max_tokens: int | None = Field(None, ge=1, le=8192)


class TokenizeRequest(Body):
    """POST /api/tokenize."""

    text: str
    add_bos: bool = True
    special: bool = False


class DetokenizeRequest(Body):
    """POST /api/detokenize."""

    tokens: list[int]


class EmbeddingsRequest(Body):
    """POST /api/embeddings and /v1/embeddings."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    input: str | list[str] = Field(min_length=1)

    def texts(self, limit: int) -> list[str]:
        """The inputs as a list; InputError for more than ``limit`` of them."""
        texts = [self.input] if isinstance(self.input, str) else list(self.input)
        if len(texts) > limit:
            raise InputError(
                f"{len(texts)} inputs in one request; at most {limit} are taken "
                "(server.max_embedding_inputs): send them in several requests"
            )
        return texts
