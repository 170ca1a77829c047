"""Client messages of the voice doors checked before anything acts on them: bounded JSON, typed.

A message is refused whole, with one line naming the field at fault (``param``), before any
of it is used. Its size is checked first, then its nesting depth on the raw text (the C JSON
parser recurses once per level: 30,000 levels end in RecursionError; json_limits.py measures
it, for Wyoming too), and only then is it parsed; the parsed object goes through a strict
pydantic model (types, ranges, finite numbers: ``NaN`` and ``1e999``, which JSON reads as
infinity, are refused).
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from assistant.errors import UserError
from assistant.server import json_limits

MAX_DEPTH = json_limits.MAX_JSON_DEPTH  # levels; a Realtime event needs 7 (a tool schema more)

Model = TypeVar("Model", bound=BaseModel)


class BadMessage(UserError):
    """A client message that cannot be taken: ``param`` names the field (None: the whole)."""

    def __init__(self, message: str, code: str = "invalid_value", param: str | None = None):
        super().__init__(message)
        self.code, self.param = code, param


class Strict(BaseModel):
    """A client message's part: exact types (no ``"5"`` for 5), finite numbers, known fields."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="forbid")


def depth(text: str) -> int:
    """How deeply ``text``'s arrays and objects nest (brackets inside strings do not count)."""
    return json_limits.depth(text.encode("utf-8", "surrogatepass"))


def loads(text: str, max_bytes: int, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """A JSON object of at most ``max_bytes`` and ``max_depth`` levels; BadMessage otherwise."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) > max_bytes:
        raise BadMessage(f"messages are limited to {max_bytes} bytes", "message_too_large")
    if json_limits.depth(raw) > max_depth:
        raise BadMessage(f"JSON nested over {max_depth} levels deep", "invalid_json")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadMessage(f"not valid JSON ({first_line(exc)})", "invalid_json") from None
    if not isinstance(value, dict):
        raise BadMessage("a message is a JSON object with a 'type'", "invalid_json")
    return value


def refuse_non_finite(value: Any) -> None:
    """BadMessage naming the first NaN or infinity in ``value``, in fields of any type.

    Typed fields refuse them by themselves; this covers the free-form ones (tool schemas,
    transcription settings) that would otherwise be echoed back as text that is not JSON.
    """
    if (where := _not_finite(value, ())) is not None:
        param = path("", where)
        raise BadMessage(f"'{param}': NaN and infinities are not JSON numbers", param=param)


def _not_finite(value: Any, at: tuple[int | str, ...]) -> tuple[int | str, ...] | None:
    """Where ``value`` holds NaN or an infinity, if anywhere (its depth is already bounded)."""
    if isinstance(value, float):
        return None if math.isfinite(value) else at
    if isinstance(value, dict | list):
        for key, inner in value.items() if isinstance(value, dict) else enumerate(value):
            if (found := _not_finite(inner, (*at, key))) is not None:
                return found
    return None


def check(model: type[Model], value: Any, prefix: str = "") -> Model:
    """``value`` as ``model``; BadMessage naming the first field at fault (under ``prefix``)."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        param = path(prefix, problem.get("loc", ()))
        message = _PLAIN.get(problem["type"], problem.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        raise BadMessage(f"'{param or 'message'}': {message}", param=param or None) from None


def path(prefix: str, loc: tuple[int | str, ...] | list[Any]) -> str:
    """``session`` + ``("audio", "input")`` -> ``session.audio.input``; indexes as ``[0]``."""
    text = prefix
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f"{'.' if text else ''}{part}"
    return text


_PLAIN = {
    "extra_forbidden": "not supported by this server",
    "missing": "required",
    "finite_number": "must be a finite number",
    "model_type": "must be an object",
    "dict_type": "must be an object",
}


def first_line(exc: BaseException) -> str:
    """An error's gist for an answer or a log line: its first line, at most 120 characters."""
    lines = str(exc).splitlines()
    return lines[0][:120] if lines else type(exc).__name__
