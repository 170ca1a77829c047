"""The Realtime API's client events as typed models, checked before a handler sees them.

Each event's fields are held to their types, ranges and finite numbers (wire_check.py); what
a field may mean here (a voice that exists, a format at its rate, a field this server does not
take) is then decided where the value is used (realtime/config.py, realtime/items.py). Fields
not declared here pass on to those checks, which name them when they are not supported.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from assistant.server.wire_check import BadMessage, Strict, check, refuse_non_finite

MAX_ID = 256  # characters of an id the client chooses (event, item, response)


def _id() -> Any:
    return Field(None, max_length=MAX_ID)


class Open(Strict):
    """A part whose undeclared fields are judged later, where they are used."""

    model_config = ConfigDict(extra="allow")


def tokens_or_inf(value: Any) -> Any:
    """``max_output_tokens``: an integer from 1 to 4096, or ``"inf"``."""
    if value == "inf" or (type(value) is int and 1 <= value <= 4096):
        return value
    raise ValueError("an integer from 1 to 4096, or 'inf'")


def _tokens_if_given(value: Any) -> Any:
    return value if value is None else tokens_or_inf(value)


class AudioFormat(Strict):
    """``audio.input.format`` / ``audio.output.format``."""

    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
    rate: int | None = None


class AudioInput(Open):
    """``audio.input``."""

    format: AudioFormat | None = None
    transcription: dict[str, Any] | None = None
    turn_detection: dict[str, Any] | None = None  # checked whole once merged (TURN_DETECTION)
    noise_reduction: dict[str, Any] | None = None


class AudioOutput(Open):
    """``audio.output``."""

    format: AudioFormat | None = None
    voice: str = Field("", max_length=MAX_ID)
    speed: float = Field(1.0, gt=0, le=4)


class Audio(Strict):
    """``audio``."""

    input: AudioInput | None = None
    output: AudioOutput | None = None


class Session(Open):
    """The ``session`` of a ``session.update``."""

    type: str | None = None
    model: str | None = None
    object: str | None = None
    id: str | None = None
    expires_at: int | None = None
    instructions: str = ""
    output_modalities: list[Literal["audio", "text"]] = Field(default_factory=list)
    max_output_tokens: int | str = "inf"
    temperature: float = Field(0.8, ge=0, le=2)
    audio: Audio | None = None

    _tokens = field_validator("max_output_tokens", mode="before")(tokens_or_inf)


class ServerVad(Strict):
    """``turn_detection`` of type ``server_vad``; ranges as the VAD settings take them."""

    type: Literal["server_vad"]
    threshold: float = Field(0.5, ge=0, le=1)
    prefix_padding_ms: int = Field(300, ge=0, le=2000)
    silence_duration_ms: int = Field(500, ge=20, le=5000)
    create_response: bool = True
    interrupt_response: bool = True
    idle_timeout_ms: None = None  # not supported: only null


class SemanticVad(Strict):
    """``turn_detection`` of type ``semantic_vad``."""

    type: Literal["semantic_vad"]
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"
    create_response: bool = True
    interrupt_response: bool = True
    idle_timeout_ms: None = None


TURN_DETECTION: dict[str, type[Strict]] = {"server_vad": ServerVad, "semantic_vad": SemanticVad}


class Response(Open):
    """The ``response`` of a ``response.create``."""

    instructions: str | None = None
    max_output_tokens: int | str | None = None
    output_modalities: list[Literal["audio", "text"]] | None = None
    conversation: str | None = None

    _tokens = field_validator("max_output_tokens", mode="before")(_tokens_if_given)


class Item(Open):
    """The ``item`` of a ``conversation.item.create`` (its kinds are judged on use)."""

    id: str | None = _id()
    type: str | None = None
    role: str | None = None
    content: list[dict[str, Any]] | None = None


class Event(Open):
    """Any client event: its ``type`` and the ``event_id`` the client may give."""

    type: str = Field(max_length=64)
    event_id: str | None = _id()


class SessionUpdate(Event):
    """``session.update``."""

    session: Session


class Append(Event):
    """``input_audio_buffer.append``: base64 audio in the session's input format."""

    audio: str


class ItemCreate(Event):
    """``conversation.item.create``."""

    item: Item
    previous_item_id: str | None = _id()


class ItemRef(Event):
    """``conversation.item.retrieve`` and ``delete``."""

    item_id: str = Field(max_length=MAX_ID)


class Truncate(ItemRef):
    """``conversation.item.truncate``."""

    content_index: int = Field(0, ge=0)
    audio_end_ms: int = Field(ge=0, le=24 * 3600 * 1000)


class ResponseCreate(Event):
    """``response.create``."""

    response: Response | None = None


class ResponseCancel(Event):
    """``response.cancel``."""

    response_id: str | None = _id()


MODELS: dict[str, type[Event]] = {
    "session.update": SessionUpdate,
    "input_audio_buffer.append": Append,
    "conversation.item.create": ItemCreate,
    "conversation.item.retrieve": ItemRef,
    "conversation.item.delete": ItemRef,
    "conversation.item.truncate": Truncate,
    "response.create": ResponseCreate,
    "response.cancel": ResponseCancel,
}


def event_id(event: dict[str, Any]) -> str | None:
    """The client's id of ``event``, when it gave a usable one (errors name it)."""
    given = event.get("event_id")
    return given if isinstance(given, str) and len(given) <= MAX_ID else None


def check_event(event: dict[str, Any], known: set[str] | dict[str, Any]) -> str:
    """The type of ``event``, once its fields are checked; BadMessage naming what is wrong.

    ``known``: the types this server handles.
    """
    kind = check(Event, event).type
    if kind not in known:
        shown = kind if len(kind) <= 40 else kind[:40] + "..."
        raise BadMessage(f"unknown or unsupported event type {shown!r}", "invalid_event", "type")
    check(MODELS.get(kind, Event), event)
    refuse_non_finite(event)
    return kind


def check_detection(value: dict[str, Any], prefix: str) -> None:
    """A whole ``turn_detection`` object; BadMessage naming its field at fault."""
    kind = value.get("type")
    model = TURN_DETECTION.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise BadMessage(
            f"'{prefix}.type': null, {{'type': 'server_vad'}} or 'semantic_vad'",
            param=f"{prefix}.type",
        )
    check(model, value, prefix)


def check_position(event: dict[str, Any], last_item: str | None) -> None:
    """BadMessage unless ``conversation.item.create`` adds its item at the end.

    Items are appended to the conversation the model reads; one placed earlier would change
    what it already answered, so ``previous_item_id`` may only name the last item (or be
    ``root`` while there is none), never be dropped in silence.
    """
    after = event.get("previous_item_id")
    if after is None or after == last_item or (after == "root" and last_item is None):
        return
    raise BadMessage(
        f"previous_item_id {after!r}: items are added at the end of the conversation here; "
        f"omit it or give the last item's id ({last_item!r})",
        param="previous_item_id",
    )
