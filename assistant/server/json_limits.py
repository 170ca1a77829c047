"""JSON from clients, parsed only once its nesting depth is known to be within a bound.

Python's parser recurses once per level: a message nested 100,000 deep raises RecursionError
from deep inside it (or worse, exhausts the C stack). Here the depth is measured first, in one
linear pass at C speed (strings cut out by a regular expression, the brackets left counted with
numpy), and a message deeper than the bound is refused before the parser sees it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

MAX_JSON_DEPTH = 32  # levels of nesting in one client message (a Wyoming event needs 3)

# A JSON string, or an unterminated one up to the end (a lone backslash at the end included),
# so every quote starts a match that runs forward only once: linear time on any input.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = frozenset(b"[{")


class TooDeep(ValueError):
    """The JSON nests deeper than allowed."""


def depth(data: bytes) -> int:
    """How deep ``data`` (UTF-8 JSON text) nests its arrays and objects, as the parser would see.

    UTF-8 never uses bytes under 0x80 inside a multi-byte character, so quotes and brackets are
    found byte by byte. Text past an unterminated string counts as inside it: the parser stops
    there.
    """
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    marks = np.frombuffer(brackets, np.uint8)
    steps = np.where(np.isin(marks, list(_OPENING)), 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max())


def loads(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` of UTF-8 ``data``; TooDeep past ``max_depth`` levels, ValueError if not JSON.

    Numbers too large for a float are refused (ValueError) rather than read as infinity.
    """
    text = (
        data.decode("utf-8") if isinstance(data, bytes) else data
    )  # UnicodeDecodeError: ValueError
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    levels = depth(raw)
    if levels > max_depth:
        raise TooDeep(f"JSON nested {levels} levels deep; at most {max_depth}")
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {literal[:20]} is too large")
    return value
