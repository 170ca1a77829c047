"""The time and date, from the machine's clock in its local time zone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from assistant.llm.toolcall import ToolSpec
from assistant.tools.toolbox import Tool

Now = Callable[[], dt.datetime]


def local_now() -> dt.datetime:
    """The local time, with its zone."""
    return dt.datetime.now().astimezone()


def spoken_time(moment: dt.datetime) -> str:
    """``moment`` as it is said: "11:05 AM"."""
    return moment.strftime("%I:%M %p").lstrip("0")


def spoken_date(moment: dt.datetime) -> str:
    """``moment``'s date as it is said: "Wednesday, December 2, 2026"."""
    return f"{moment:%A, %B} {moment.day}, {moment.year}"


def clock_tool(now: Now = local_now) -> Tool:
    """``get_time``: the current time and date."""

    async def run(arguments: dict[str, Any]) -> str:
        moment = now()
        return f"It is {spoken_time(moment)} on {spoken_date(moment)}."

    spec = ToolSpec(
        "get_time",
        "The current local time and date.",
        {"type": "object", "properties": {}, "additionalProperties": False},
    )
    return Tool(spec, run)
