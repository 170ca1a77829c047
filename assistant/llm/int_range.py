"""Integer ranges as GBNF: the integers from one bound to another, each written as JSON writes it.

As llama.cpp's schema converter does for ``minimum``/``maximum`` on an integer, digit by digit,
so the grammar sampler can hold a value to its bounds while it is being written. An open end
stops at 16 digits (the converter's longest integer) or at the longest bound's. Numbers never
start with a zero (but 0 itself) and zero is never negative: every string the grammar allows
is the JSON of one integer in the range, and every integer in the range has its string.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

_OPEN_DIGITS = 16  # the longest integer of the converter's own ``integer`` rule


def integer_range(low: int | None, high: int | None) -> str:
    """A GBNF expression for the integers ``low`` to ``high`` (None: open), both included.

    ValueError when no integer lies between them.
    """
    digits = max([_OPEN_DIGITS, *(len(str(abs(bound))) for bound in (low, high) if bound)])
    cap = 10**digits - 1  # an open end: as many digits as the longest bound, 16 at least
    low, high = -cap if low is None else low, cap if high is None else high
    if low > high:
        raise ValueError(f"no integer is at least {low} and at most {high}")
    parts = []
    if low < 0:  # negative numbers: a minus sign and their absolute values
        parts.append(f'"-" ({_natural(max(1, -high), -low)})')
    if high >= 0:
        parts.append(_natural(max(0, low), high))
    return " | ".join(parts)


def _natural(low: int, high: int) -> str:
    """Integers ``low..high`` (0 <= low <= high), one alternative per number of digits."""
    parts = []
    for digits in range(len(str(low)), len(str(high)) + 1):
        first = low if digits == len(str(low)) else 10 ** (digits - 1)
        last = high if digits == len(str(high)) else 10**digits - 1
        parts.append(_same_length(str(first), str(last)))
    return " | ".join(parts)


def _same_length(low: str, high: str) -> str:
    """Digit strings from ``low`` to ``high`` (as many digits each, ``low <= high``)."""
    shared = 0
    while shared < len(low) and low[shared] == high[shared]:
        shared += 1
    head = f'"{low[:shared]}"' if shared else ""
    low, high = low[shared:], high[shared:]
    if not low:
        return head
    tail = _digits_between(low, high)
    return f"{head} {tail}" if head else tail


def _digits_between(low: str, high: str) -> str:
    """Digit strings ``low..high`` of one length whose first digits differ (low's smaller)."""
    if len(low) == 1:
        return _digit_class(low, high)
    rest = len(low) - 1
    zeros, nines = "0" * rest, "9" * rest
    # Past the first digit, low's tail bounds the smallest first digit, high's the largest;
    # every first digit strictly between them takes any tail.
    from_digit = low[0] if low[1:] == zeros else chr(ord(low[0]) + 1)
    to_digit = high[0] if high[1:] == nines else chr(ord(high[0]) - 1)
    parts = []
    if low[1:] != zeros:
        parts.append(f"[{low[0]}] ({_same_length(low[1:], nines)})")
    if from_digit <= to_digit:
        parts.append(f"{_digit_class(from_digit, to_digit)} {_any_digits(rest)}")
    if high[1:] != nines:
        parts.append(f"[{high[0]}] ({_same_length(zeros, high[1:])})")
    return "(" + " | ".join(parts) + ")"


def _any_digits(count: int) -> str:
    return "[0-9]" if count == 1 else f"[0-9]{{{count}}}"


def _digit_class(low: str, high: str) -> str:
    return f"[{low}]" if low == high else f"[{low}-{high}]"


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def integer_bounds(schema: dict[str, Any]) -> tuple[int | None, int | None] | None:
    """The smallest and largest integer ``schema``'s bounds allow, or None if it sets none.

    Both drafts' forms count: ``exclusiveMinimum`` as a number (2019-09 and later, as Pydantic
    writes it) or as ``true`` beside ``minimum`` (draft 4). ValueError for a bound that is not
    a number.
    """
    if not any(key in schema for key in _BOUNDS):
        return None
    for key in _BOUNDS:
        value = schema.get(key)
        if value is not None and not isinstance(value, bool | int | float):
            raise ValueError(f"{key} must be a number, not {value!r}")
        if key in ("minimum", "maximum") and isinstance(value, bool):
            raise ValueError(f"{key} must be a number, not {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{key} must be a finite number, not {value!r}")
    lows, highs = [], []
    if _number(minimum := schema.get("minimum")):
        exclusive = schema.get("exclusiveMinimum") is True
        lows.append(math.floor(minimum) + 1 if exclusive else math.ceil(minimum))
    if _number(maximum := schema.get("maximum")):
        exclusive = schema.get("exclusiveMaximum") is True
        highs.append(math.ceil(maximum) - 1 if exclusive else math.floor(maximum))
    if _number(above := schema.get("exclusiveMinimum")):
        lows.append(math.floor(above) + 1)
    if _number(below := schema.get("exclusiveMaximum")):
        highs.append(math.ceil(below) - 1)
    return (max(lows) if lows else None, min(highs) if highs else None)


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
