"""A Realtime API session's configuration: ``session.update`` checked, applied, described.

An update is checked whole before any of it applies: a field that cannot be honoured is named
in the error, and the session stays as it was (never a field dropped in silence). The session
maps onto the assistant's settings:
- ``turn_detection`` ``semantic_vad`` -> ``vad.end_of_turn = "model"``; its ``eagerness`` sets
  the end-of-turn threshold (low 0.7, medium and auto the configured one, high 0.3);
- ``server_vad`` -> ``vad.end_of_turn = "silence"``: ``silence_duration_ms`` is the hangover,
  ``prefix_padding_ms`` the pre-roll, ``threshold`` the webrtcvad aggressiveness (below 0.25:
  0, below 0.5: 1, below 0.75: 2, else 3); a field left out takes OpenAI's default (500 ms,
  300 ms, 0.5), not this server's own ``[vad]`` settings;
- ``null``: manual turns (``input_audio_buffer.commit`` then ``response.create``);
- ``create_response: false``: turns are heard and transcribed, and wait for
  ``response.create`` (realtime/hold.py);
- ``interrupt_response`` -> barge-in; ``instructions`` -> the system prompt;
  ``max_output_tokens`` and ``temperature`` -> the reply's length and sampling;
- ``tools`` and ``tool_choice`` -> the client's function tools (realtime/tools.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from assistant.config import Settings
from assistant.doors.realtime.audio import audio_format, format_json
from assistant.doors.realtime.client import Session, check_detection
from assistant.doors.realtime.tools import (
    check_choice,
    choice_json,
    parse_choice,
    parse_tools,
    tools_json,
)
from assistant.errors import UserError
from assistant.llm.toolcall import ToolSpec
from assistant.pipeline.frames import ReplyRequest
from assistant.server.wire_check import BadMessage, check

EAGERNESS = {"low": 0.7, "high": 0.3}  # medium and auto keep vad.turn_threshold
OPENAI_VOICES = {
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx",
    "sage", "shimmer", "verse",
}  # fmt: skip
_IGNORABLE = {"type", "model", "object", "id", "expires_at"}  # what the session's own JSON holds
# fields taken at the value that says what this server does anyway: the oldest messages go
# when the context is full, one call per response, no traces kept
_AS_DONE_HERE = {"truncation": ("auto",), "parallel_tool_calls": (False,), "tracing": ()}
# OpenAI's defaults for what a turn_detection leaves out (openai.types.realtime, ServerVad)
SERVER_VAD = {"threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500,
              "idle_timeout_ms": None}  # fmt: skip
SEMANTIC_VAD = {"eagerness": "auto"}


def _default_detection() -> dict[str, Any]:
    return {"type": "semantic_vad", "eagerness": "auto", "create_response": True,
            "interrupt_response": True}  # fmt: skip


@dataclass
class RealtimeConfig:
    """What a session does; ``update`` changes it, ``to_json`` describes it."""

    instructions: str
    voice: str
    modalities: list[str] = field(default_factory=lambda: ["audio"])
    input_format: str = "audio/pcm"
    output_format: str = "audio/pcm"
    transcription: dict[str, Any] | None = None
    turn_detection: dict[str, Any] | None = field(default_factory=_default_detection)
    max_output_tokens: int | None = None  # None: llm.max_tokens
    temperature: float | None = None
    tools: list[ToolSpec] = field(default_factory=list)  # the client's function tools
    tool_choice: str = "auto"  # auto | none | required | a tool's name

    def updated(self, session: Any) -> RealtimeConfig:
        """A copy with a ``session.update``'s ``session`` applied; this config is untouched.

        BadMessage naming every field refused (``param``: the first of them).
        """
        fields = check(Session, session, "session").model_dump(exclude_unset=True)
        draft, problems = copy.deepcopy(self), []
        for key, value in fields.items():
            try:
                draft._apply(key, value)
            except BadMessage as exc:
                problems.append(exc)
            except UserError as exc:
                problems.append(BadMessage(f"'session.{key}': {exc}", param=f"session.{key}"))
        try:
            check_choice(draft.tool_choice, draft.tools)
        except UserError as exc:
            problems += [] if problems else [BadMessage(str(exc), param="session.tool_choice")]
        if problems:
            raise BadMessage("; ".join(map(str, problems)), param=problems[0].param)
        return draft

    def _apply(self, key: str, value: Any) -> None:
        if key == "type" and value not in ("realtime", None):
            raise UserError("only 'realtime' sessions are served (no transcription-only ones)")
        if key in _IGNORABLE or (key in _AS_DONE_HERE and value in (*_AS_DONE_HERE[key], None)):
            return
        if key == "instructions":
            self.instructions = _text(value)
        elif key == "output_modalities":
            if value not in (["audio"], ["text"]):
                raise UserError("either ['audio'] or ['text']")
            self.modalities = list(value)
        elif key == "max_output_tokens":
            self.max_output_tokens = _tokens(value)
        elif key == "temperature":  # a finite number from 0 to 2 (Session)
            self.temperature = float(value)
        elif key == "audio":
            self._audio(value)
        elif key == "tools":
            self.tools = parse_tools(value)
        elif key == "tool_choice":
            self.tool_choice = parse_choice(value)
        else:
            raise UserError("not supported by this server")

    def _audio(self, value: Any) -> None:
        if not isinstance(value, dict):
            raise UserError("must be an object with 'input' and/or 'output'")
        for side, fields in value.items():
            if side not in ("input", "output") or not isinstance(fields, dict):
                raise UserError(f"'{side}' is not 'input' or 'output' with an object")
            for key, item in fields.items():
                try:
                    self._audio_field(side, key, item)
                except BadMessage:
                    raise
                except UserError as exc:
                    where = f"session.audio.{side}.{key}"
                    raise BadMessage(f"'{where}': {exc}", param=where) from None

    def _audio_field(self, side: str, key: str, value: Any) -> None:
        if key == "format":
            kind = audio_format(value)
            if side == "input":
                self.input_format = kind
            else:
                self.output_format = kind
        elif side == "input" and key == "transcription":
            if value is not None and not isinstance(value, dict):
                raise UserError("transcription is an object or null")
            self.transcription = value
        elif side == "input" and key == "turn_detection":
            self.turn_detection = _detection(value, self.turn_detection)
        elif side == "input" and key == "noise_reduction" and value is None:
            return
        elif side == "output" and key == "voice":
            if not isinstance(value, str) or not (value == self.voice or value in OPENAI_VOICES):
                raise UserError(f"the voice here is {self.voice!r} (OpenAI's names map to it)")
        elif side == "output" and key == "speed" and value in (1, 1.0):
            return
        else:
            raise UserError(f"audio.{side}.{key} is not supported by this server")

    def settings(self, base: Settings) -> Settings:
        """``base`` with this session's turn taking, prompt and sampling."""
        vad, llm = base.vad.model_copy(), base.llm.model_copy()
        audio = base.audio.model_copy()
        llm.system_prompt = self.instructions
        if self.max_output_tokens is not None:
            llm.max_tokens = self.max_output_tokens
        if self.temperature is not None:
            llm.temperature = self.temperature
        detection = self.turn_detection or {}
        audio.barge_in = bool(detection.get("interrupt_response", True))
        if detection.get("type") == "semantic_vad":
            vad.end_of_turn = "model"
            vad.turn_threshold = EAGERNESS.get(
                detection.get("eagerness", "auto"), vad.turn_threshold
            )
        elif detection.get("type") == "server_vad":
            vad.end_of_turn = "silence"
            vad.hangover_ms = int(detection["silence_duration_ms"])
            vad.preroll_ms = int(detection["prefix_padding_ms"])
            vad.aggressiveness = min(3, int(float(detection["threshold"]) * 4))
        return base.model_copy(update={"vad": vad, "llm": llm, "audio": audio})

    def to_json(self, model: str, stt: str, max_tokens: int) -> dict[str, Any]:
        """The session as ``session.created`` and ``session.updated`` describe it.

        ``max_tokens``: the reply's limit when the session sets none (``llm.max_tokens``).
        """
        transcription = self.transcription and {**self.transcription, "model": stt}
        return {
            "type": "realtime",
            "object": "realtime.session",
            "model": model,
            "instructions": self.instructions,
            "output_modalities": self.modalities,
            "max_output_tokens": self.max_output_tokens or max_tokens,
            "tools": tools_json(self.tools),
            "tool_choice": choice_json(self.tool_choice),
            "audio": {
                "input": {
                    "format": format_json(self.input_format),
                    "transcription": transcription,
                    "turn_detection": self.turn_detection,
                    "noise_reduction": None,
                },
                "output": {"format": format_json(self.output_format), "voice": self.voice,
                           "speed": 1.0},
            },
        }  # fmt: skip


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise UserError("must be a string")
    return value


def _tokens(value: Any) -> int | None:
    if value == "inf":
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4096:
        raise UserError("an integer from 1 to 4096, or 'inf'")
    return value


def _detection(value: Any, current: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    where = "session.audio.input.turn_detection"
    if not isinstance(value, dict) or value.get("type") not in ("server_vad", "semantic_vad"):
        raise BadMessage(
            f"'{where}': null, {{'type': 'server_vad'}} or 'semantic_vad'", param=f"{where}.type"
        )
    defaults = SERVER_VAD if value["type"] == "server_vad" else SEMANTIC_VAD
    same = current if current and current["type"] == value["type"] else {}
    merged = {"create_response": True, "interrupt_response": True, **defaults, **same, **value}
    check_detection(merged, where)  # types, ranges and known fields, before any is used
    return merged


def response_options(options: dict[str, Any], config: RealtimeConfig) -> ReplyRequest:
    """What a ``response.create`` asks of its reply; UserError naming what cannot be done.

    ``output_modalities`` ``["text"]`` in an audio session gives a reply that is not spoken;
    ``["audio"]`` in a text session cannot be (the session has no voice stage: change the
    session). ``conversation: "none"`` gives an out-of-band reply that the conversation does
    not keep; its context is the conversation (``input`` items are not taken).
    """
    problems = []
    for key, value in options.items():
        if key == "output_modalities" and value not in (["text"], config.modalities):
            problems.append("output_modalities: ['text'], or ['audio'] in an audio session")
        elif key == "conversation" and value not in ("auto", "none"):
            problems.append("conversation: 'auto' or 'none'")
        elif key == "tool_choice":
            try:
                check_choice(parse_choice(value), config.tools)
            except UserError as exc:
                problems.append(str(exc))
        elif key not in _RESPONSE_FIELDS:
            problems.append(f"{key}: not supported by this server")
    if problems:
        raise UserError("; ".join(problems))
    instructions = options.get("instructions")
    tokens = options.get("max_output_tokens")
    return ReplyRequest(
        instructions=_text(instructions) if instructions is not None else None,
        max_tokens=_tokens(tokens) if tokens is not None else None,
        speak=options.get("output_modalities", config.modalities) == ["audio"],
        remember=options.get("conversation", "auto") == "auto",
        tool_choice=parse_choice(options["tool_choice"]) if "tool_choice" in options else None,
    )


_RESPONSE_FIELDS = ("instructions", "max_output_tokens", "output_modalities", "conversation")
