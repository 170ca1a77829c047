"""The text messages of a ``/ws/voice`` client as typed models, checked before they are used.

The same checks as the Realtime API's events (wire_check.py): bounded size and depth, exact
types. Fields not declared here are ignored, as before.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator

from assistant.server.wire_check import BadMessage, Strict, check, loads, refuse_non_finite


class Message(Strict):
    """Any client text message: its ``type``."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(max_length=64)


class Text(Message):
    """``{"type": "text", "text"}``: typed words, a turn of the conversation."""

    text: str

    @field_validator("text")
    @classmethod
    def _words(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("a text message needs words: {'type': 'text', 'text': '...'}")
        return text.strip()


class Image(Message):
    """``{"type": "image", "data"}``: a picture (base64 or a ``data:`` URI), or null."""

    data: str | None = None


MODELS: dict[str, type[Message]] = {
    "end": Message,
    "interrupt": Message,
    "ping": Message,
    "text": Text,
    "image": Image,
}


def message(text: str, max_bytes: int) -> Message:
    """A client's text message, checked; BadMessage naming what is wrong."""
    value: dict[str, Any] = loads(text, max_bytes)
    kind = check(Message, value).type
    if kind not in MODELS:
        shown = kind if len(kind) <= 40 else kind[:40] + "..."
        raise BadMessage(
            f"unknown message type {shown!r}: text messages are "
            f"{{'type': {' | '.join(map(repr, MODELS))}}}",
            param="type",
        )
    checked = check(MODELS[kind], value)
    refuse_non_finite(value)
    return checked
