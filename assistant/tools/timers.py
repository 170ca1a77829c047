"""The timer and alarm tools: set, list and cancel (see ``timer_store.py`` for the file)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from assistant.llm.toolcall import ToolSpec
from assistant.tools.clock import Now, local_now, spoken_time
from assistant.tools.timer_store import Timer, TimerStore, spoken_duration
from assistant.tools.toolbox import Tool, ToolError

MAX_TIMER_S = 7 * 24 * 3600
_LABEL = {"type": "string", "maxLength": 40}


def timer_tools(store: TimerStore, now: Now = local_now) -> list[Tool]:
    """``set_timer``, ``set_alarm``, ``list_timers`` and ``cancel_timer`` on ``store``."""

    async def set_timer(arguments: dict[str, Any]) -> str:
        length = float(arguments["seconds"])
        if not 1 <= length <= MAX_TIMER_S:
            raise ToolError("a timer lasts from 1 second to 7 days")
        timer = store.add("timer", arguments.get("label", ""), time.time() + length, length)
        return f"A {timer.name()} is set; it goes off in {spoken_duration(length)}."

    async def set_alarm(arguments: dict[str, Any]) -> str:
        due = next_occurrence(arguments["time"], now())
        alarm = store.add("alarm", arguments.get("label", ""), due.timestamp())
        return f"The {alarm.name()} is set for {spoken_time(due)}."

    async def list_timers(arguments: dict[str, Any]) -> str:
        timers = store.all()
        if not timers:
            return "There are no timers or alarms."
        return "; ".join(describe(t, now()) for t in timers) + "."

    async def cancel_timer(arguments: dict[str, Any]) -> str:
        chosen = choose(store.all(), arguments.get("label", ""))
        gone = store.remove({t.id for t in chosen})
        return "Cancelled: " + ", ".join(f"the {t.name()}" for t in gone) + "."

    return [
        Tool(_spec("set_timer", "Start a timer.", {"seconds": _seconds()}), set_timer),
        Tool(_spec("set_alarm", "Set an alarm at a time of day.", {"time": _clock()}), set_alarm),
        Tool(
            _spec("list_timers", "The timers and alarms that are set.", {}, label=False),
            list_timers,
        ),
        Tool(_spec("cancel_timer", "Cancel a timer or alarm (all: every one).", {}), cancel_timer),
    ]


def next_occurrence(clock: str, moment: dt.datetime) -> dt.datetime:
    """The next time the clock shows ``clock`` ("HH:MM", 24 h) after ``moment``."""
    hours, minutes = (int(part) for part in clock.split(":"))
    due = moment.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    return due if due > moment else due + dt.timedelta(days=1)


def describe(timer: Timer, moment: dt.datetime) -> str:
    """A timer as listed: "the pasta timer, 4 minutes 10 seconds left", "the alarm at 7:00"."""
    if timer.kind == "alarm":
        return f"the {timer.name()} at {spoken_time(dt.datetime.fromtimestamp(timer.due))}"
    left = spoken_duration(max(0.0, timer.due - moment.timestamp()))
    return f"the {timer.name()}, {left} left"


def choose(timers: list[Timer], label: str) -> list[Timer]:
    """The timers ``label`` means: all, those it names, or the only one there is."""
    wanted = label.strip().lower()
    if not timers:
        raise ToolError("there are no timers or alarms to cancel")
    if wanted in ("all", "every", "everything"):
        return timers
    if wanted:
        named = [t for t in timers if wanted in t.name().lower() or wanted == t.kind]
        if named:
            return named
        raise ToolError(f"no timer or alarm is called {label!r}")
    if len(timers) == 1:
        return timers
    raise ToolError("there are several; say which one, or all")


def _seconds() -> dict[str, Any]:
    return {"type": "integer"}  # 1 s to 7 days, checked by set_timer: a grammar cannot


def _clock() -> dict[str, Any]:
    return {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}


def _spec(name: str, about: str, fields: dict[str, Any], label: bool = True) -> ToolSpec:
    properties = {**fields, **({"label": _LABEL} if label else {})}
    schema = {
        "type": "object",
        "properties": properties,
        "required": list(fields),
        "additionalProperties": False,
    }
    return ToolSpec(name, about, schema)
