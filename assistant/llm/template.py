"""Chat templates: the model's own Jinja template, fed (role, content) pairs or OpenAI dicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NoReturn

import jinja2
import jinja2.sandbox

from assistant.llm.errors import ConfigurationError, FeatureNotAvailableError
from assistant.types import ChatMessage

Message = ChatMessage | tuple[str, str] | Mapping[str, Any]


def as_dicts(messages: Iterable[Message]) -> list[dict[str, str]]:
    """Messages in the OpenAI shape the templates expect."""
    out = []
    for m in messages:
        if isinstance(m, ChatMessage):
            out.append({"role": m.role, "content": m.content})
        elif isinstance(m, tuple) and len(m) == 2:
            out.append({"role": str(m[0]), "content": str(m[1])})
        elif isinstance(m, Mapping) and "role" in m:
            out.append({"role": str(m["role"]), "content": str(m.get("content") or "")})
        else:
            raise ConfigurationError(
                f"a chat message must be (role, content) or a dict with 'role'; got {m!r}"
            )
    return out


def _raise(message: str) -> NoReturn:
    raise ConfigurationError(f"the chat template refused the messages: {message}")


class ChatTemplate:
    """Renders a conversation with a GGUF's ``tokenizer.chat_template`` (sandboxed Jinja)."""

    def __init__(self, template: str | None, bos_token: str, eos_token: str, source: str) -> None:
        if not template:
            raise FeatureNotAvailableError(
                f"model {source} has no chat template; use an instruct/chat GGUF"
            )
        env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals.update(
            raise_exception=_raise, strftime_now=lambda fmt: datetime.now().strftime(fmt)
        )
        try:
            self._template = env.from_string(template)
        except jinja2.TemplateError as exc:
            raise FeatureNotAvailableError(
                f"model {source} has a broken chat template ({exc})"
            ) from None
        self._bos, self._eos = bos_token, eos_token

    def render(self, messages: Iterable[Message], add_generation_prompt: bool = True) -> str:
        """The conversation as the model was trained to read it."""
        return self._template.render(
            messages=as_dicts(messages),
            bos_token=self._bos,
            eos_token=self._eos,
            add_generation_prompt=add_generation_prompt,
        )
