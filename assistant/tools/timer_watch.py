"""Announces timers and alarms when they go off, in whichever conversation is running.

A timer that went off while nothing was running (the kiosk restarted, say) is announced at
the next start as missed, with the time it went off, rather than dropped without a word.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable

from assistant.tools.clock import spoken_time
from assistant.tools.timer_store import Timer, TimerStore

Announce = Callable[[str], Awaitable[object]]
POLL_S = 0.5  # how soon a timer set by another process is seen
MISSED_S = 60.0  # a timer this late was missed (nothing was running), not just due


def announcement(timer: Timer, now: float) -> str:
    """What is said when ``timer`` goes off (or was found to have gone off at ``now``)."""
    if now - timer.due > MISSED_S:
        when = spoken_time(dt.datetime.fromtimestamp(timer.due))
        return f"While I was not running, your {timer.name()} went off at {when}."
    if timer.kind == "alarm":
        return f"It is {spoken_time(dt.datetime.fromtimestamp(timer.due))}: your {timer.name()}."
    return f"Your {timer.name()} is done."


async def watch(store: TimerStore, announce: Announce) -> None:
    """Announce each timer as it comes due, until cancelled."""
    while True:
        now = time.time()
        for timer in store.due(now):
            if store.remove({timer.id}):  # another process may have announced it already
                await announce(announcement(timer, now))
        upcoming = store.all()
        wait = min([POLL_S, *(t.due - time.time() for t in upcoming)])
        await asyncio.sleep(max(0.01, wait))
