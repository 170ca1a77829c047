"""The Wyoming events a client may send, each parsed into a typed, checked form before it is used.

The ``wyoming`` package's ``from_event`` trusts its input (``synthesize {}`` is a KeyError,
``audio-start {"rate": "fast"}`` passes a string on as a rate). Here each event's data is
checked against a strict model first: types (no string for a number, no float for a count),
ranges, finiteness and lengths. Fields the protocol adds later, or a client adds of its own
(``timestamp``, ``context``), are ignored. A bad event is ``BadEvent``: one line naming the
event and each field at fault, which the session sends back as Wyoming's ``error``.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from wyoming.event import Event

from assistant.server.limits import MAX_SPEECH_CHARS

_NAME = 128  # characters of a name (a voice, a wake word, a language) or a ping's text


class BadEvent(Exception):
    """An event of a served type whose data is not what the protocol says."""

    def __init__(self, text: str, code: str = "bad-event") -> None:
        super().__init__(text)
        self.text, self.code = text, code


class Data(BaseModel):
    """The data part of one client event."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, allow_inf_nan=False)


class Describe(Data):
    """``describe``: answered with ``info``, what this server offers."""


class Ping(Data):
    """``ping``: answered with ``pong`` and the same text."""

    text: str | None = Field(None, max_length=_NAME)


class AudioFormat(Data):
    """The format of the audio that follows."""

    rate: int = Field(ge=1000, le=384_000)  # Hertz
    width: Literal[1, 2, 4]  # bytes per sample
    channels: int = Field(ge=1, le=32)


class AudioStart(AudioFormat):
    """``audio-start``: a stream of audio begins."""


class AudioChunk(AudioFormat):
    """``audio-chunk``: some audio (the payload), in the format it names."""

    audio: bytes = b""


class AudioStop(Data):
    """``audio-stop``: the stream ends (transcribe it, or stop listening for wake words)."""


class Transcribe(Data):
    """``transcribe``: the next audio is to be transcribed (optionally in ``language``)."""

    name: str | None = Field(None, max_length=_NAME)
    language: str | None = Field(None, max_length=_NAME)


class Voice(Data):
    """Which voice a synthesis asks for: by ``name`` (from ``info``) or by ``language``."""

    name: str | None = Field(None, max_length=_NAME)
    language: str | None = Field(None, max_length=_NAME)
    speaker: str | None = Field(None, max_length=_NAME)


class Synthesize(Data):
    """``synthesize``: speak ``text``."""

    text: str = Field(max_length=MAX_SPEECH_CHARS)
    voice: Voice | None = None


class SynthesizeStart(Data):
    """``synthesize-start``: text to speak follows in chunks."""

    voice: Voice | None = None


class SynthesizeChunk(Data):
    """``synthesize-chunk``: more of the text (the whole stream is held to the same limit)."""

    text: str = Field(max_length=MAX_SPEECH_CHARS)


class SynthesizeStop(Data):
    """``synthesize-stop``: the streamed text is complete."""


class Transcript(Data):
    """``transcript``: text for the chat model to answer (``handle``)."""

    text: str
    language: str | None = Field(None, max_length=_NAME)


class Detect(Data):
    """``detect``: listen for these wake words (none: every one) in the audio that follows."""

    names: list[Annotated[str, Field(max_length=_NAME)]] | None = Field(None, max_length=16)


CLIENT_EVENTS: dict[str, type[Data]] = {
    "describe": Describe,
    "ping": Ping,
    "audio-start": AudioStart,
    "audio-chunk": AudioChunk,
    "audio-stop": AudioStop,
    "transcribe": Transcribe,
    "synthesize": Synthesize,
    "synthesize-start": SynthesizeStart,
    "synthesize-chunk": SynthesizeChunk,
    "synthesize-stop": SynthesizeStop,
    "transcript": Transcript,
    "detect": Detect,
}
OFFERED = "describe, asr (transcribe + audio), tts (synthesize), handle (transcript), " + (
    "wake (detect + audio)"
)


def parse(event: Event) -> Data:
    """The typed data of ``event``; BadEvent when its type is not served or its data is wrong."""
    model = CLIENT_EVENTS.get(event.type)
    if model is None:
        raise BadEvent(f"{event.type[:_NAME]!r} is not served; offered: {OFFERED}", "not-served")
    try:  # text goes back out (a pong, the chat model, a transcript) as UTF-8
        json.dumps(event.data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadEvent(f"{event.type}: text must be valid Unicode (a lone surrogate)") from None
    data = dict(event.data)
    if model is AudioChunk:
        data["audio"] = event.payload or b""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadEvent(f"{event.type}: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    """Each field at fault and why, on one line."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "data"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)
