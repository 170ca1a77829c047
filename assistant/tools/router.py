"""The deterministic pre-check: common spoken requests mapped straight to a tool call.

The default chat model is too small to choose tools well (see the README's tool-choice
table), while requests for the time, timers, alarms, arithmetic, units and the camera have
recognisable words. When the transcript matches one of these patterns, and the tool exists,
the call is made without asking the model; anything else goes to the model as usual. Number
words become digits first (text2num's ``alpha2digit``: "twenty five" -> "25").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container

from assistant.llm.toolcall import Call

_UNITS_S = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600, "hr": 3600}
_DURATION = re.compile(
    r"(\d+(?:\.\d+)?|an?|one|half an?)\s*(hours?|hrs?|minutes?|mins?|seconds?|secs?)\b"
)
_CLOCK = re.compile(r"\b(?:at|for)\s+(\d{1,2})(?:[:.](\d{2}))?\s*(a\.?m\.?|p\.?m\.?)?")
_TIME_ASK = re.compile(  # "the time" ends the question: "the time complexity" is no clock
    r"\b(what(?:'s| is)? the time|what time is it|what time it is|the time now|current time"
    r"|tell me the time"
    r"|what(?:'s| is) (?:the |today's )?date|what day is (?:it|today)|today's date)\b"
    r"(?!\s+(?!now\b|right\b|please\b|today\b|is\b|in\b)[a-z])"
)
_TIMER_WORD = re.compile(r"\b(timers?|alarms?)\b")
_LOOK = re.compile(
    r"\b(what do you see|what can you see|look at|what(?:'s| is) in front of"
    r"|what am i holding|describe what you see|take a look)\b"
)
_OPS = [
    (r"multiplied by|times|x", "*"),
    (r"divided by|over", "/"),
    (r"plus|and", "+"),
    (r"minus|less", "-"),
    (r"to the power of|to the", "^"),
]
_ARITH = re.compile(r"-?\d+(?:\.\d+)?(?:\s*[-+*/^]\s*-?\d+(?:\.\d+)?)+")
_CONVERT = re.compile(
    r"(-?\d+(?:\.\d+)?)\s+((?:degrees? )?[a-z]+(?: [a-z]+)?)\s+(?:to|in|into|is how many)\s+"
    r"((?:degrees? )?[a-z]+)"
)
_HOW_MANY = re.compile(
    r"how many ([a-z]+(?: (?!are\b|is\b|in\b)[a-z]+)?) (?:are |is |are there )?(?:in |is |are )?"
    r"(-?\d+(?:\.\d+)?) ([a-z]+)"
)


def digits(text: str) -> str:
    """``text`` in lower case, number words written as digits, punctuation but ':' '.' gone."""
    from text_to_num import alpha2digit  # type: ignore[import-untyped]

    spoken = str(alpha2digit(text.lower(), "en", threshold=0))  # "two" too, not only 3+
    spoken = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", spoken)  # "p.m." -> "pm"
    return re.sub(r"[^\w\s:.'+\-*/^%]|(?<!\d)\.|\.(?!\d)", " ", spoken).strip()


def route(transcript: str, tools: Container[str]) -> Call | None:
    """The call the transcript plainly asks for, if its tool is in ``tools``; else None."""
    text = digits(transcript)
    for rule in _RULES:
        call = rule(text)
        if call is not None and call.name in tools:
            return call
    return None


def _timers(text: str) -> Call | None:
    if not _TIMER_WORD.search(text) and not re.search(r"\bwake me\b|\bremind me in\b", text):
        return None
    if re.search(r"\b(cancel|stop|delete|remove|clear|turn off|switch off)\b", text):
        everything = re.search(r"\ball\b|\bevery", text)
        label = "all" if everything else _label(text)
        return Call("cancel_timer", {"label": label} if label else {})
    if re.search(r"\b(what|which|any|list|how many|how long|how much time|left)\b", text):
        return Call("list_timers", {})
    if re.search(r"\balarm\b|\bwake me\b", text):
        return _alarm(text)
    seconds = _seconds(text)
    if seconds is None:
        return None
    label = _label(text)
    return Call("set_timer", {"seconds": seconds, **({"label": label} if label else {})})


def _seconds(text: str) -> int | None:
    total = 0.0
    for amount, unit in _DURATION.findall(text):
        total += _count(amount) * _UNITS_S[_unit(unit)]
    if re.search(r"\band a half\b", text) and (unit_match := _DURATION.search(text)):
        total += 0.5 * _UNITS_S[_unit(unit_match.group(2))]
    return round(total) if total >= 1 else None


def _count(amount: str) -> float:
    if amount.startswith("half"):
        return 0.5
    return 1.0 if amount in ("a", "an", "one") else float(amount)


def _unit(word: str) -> str:
    return word[:-1] if word.endswith("s") and word[:-1] in _UNITS_S else word


def _alarm(text: str) -> Call | None:
    found = _CLOCK.search(text) or re.search(
        r"(\d{1,2})(?:[:.](\d{2}))?\s*(a\.?m\.?|p\.?m\.?)", text
    )
    if found is None:
        return None
    hours, minutes = int(found.group(1)), int(found.group(2) or 0)
    meridiem = (found.group(3) or "").replace(".", "")
    if meridiem == "pm" and hours < 12:
        hours += 12
    elif meridiem == "am" and hours == 12:
        hours = 0
    if hours > 23 or minutes > 59:
        return None
    label = _label(text)
    return Call(
        "set_alarm", {"time": f"{hours:02d}:{minutes:02d}", **({"label": label} if label else {})}
    )


_NOT_LABELS = {
    "a",
    "an",
    "the",
    "my",
    "this",
    "that",
    "all",
    "new",
    "one",
    "and",
    "half",
    "please",
    "me",
    "am",
    "pm",
    "morning",
    "evening",
    "night",
    "up",
}


def _label(text: str) -> str:
    """The word that names a timer: "the pasta timer", "a timer for the pasta" -> "pasta"."""
    found: list[str] = (
        re.findall(r"\b([a-z]+) (?:timer|alarm)s?\b", text)
        + re.findall(r"\b(?:timer|alarm) (?:for|called|named) (?:the |my )?([a-z]+)\b(?! \d)", text)
        + re.findall(r"\b(?:for|called|named) (?:the|my) ([a-z]+)\s*$", text)
    )
    for word in found:
        unit = word[:-1] if word.endswith("s") else word
        if word not in _NOT_LABELS and unit not in _UNITS_S:
            return word
    return ""


def _time(text: str) -> Call | None:
    return Call("get_time", {}) if _TIME_ASK.search(text) else None


def _look(text: str) -> Call | None:
    return Call("look", {"question": text}) if _LOOK.search(text) else None


def _arithmetic(text: str) -> Call | None:
    if not re.search(r"\b(what(?:'s| is)|calculate|compute|how much is|work out)\b", text):
        return None
    spoken = re.sub(r"\bsquared\b", "^ 2", re.sub(r"\bcubed\b", "^ 3", text))
    for words, symbol in _OPS:
        spoken = re.sub(rf"(?<=\d)\s+(?:{words})\s+(?=-?\d)", f" {symbol} ", spoken)
    found = _ARITH.search(spoken)
    return Call("calculate", {"expression": found.group(0)}) if found else None


def _units(text: str) -> Call | None:
    if found := _CONVERT.search(text):
        value, source, target = found.groups()
    elif found := _HOW_MANY.search(text):
        target, value, source = found.groups()
    else:
        return None
    if not _is_unit(source) or not _is_unit(target):
        return None
    return Call("convert_units", {"value": float(value), "from_unit": source, "to_unit": target})


def _is_unit(name: str) -> bool:
    from assistant.tools.units import known_unit

    return known_unit(name)


_RULES: list[Callable[[str], Call | None]] = [_time, _timers, _look, _units, _arithmetic]
