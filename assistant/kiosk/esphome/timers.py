"""Timers Home Assistant set by voice: kept here, shown in /health, rung when they finish.

Home Assistant owns the timers and sends started, updated, cancelled and finished events. The
kiosk counts ``seconds_left`` down between them (as ESPHome satellites do) so /health shows
the time left now. A finished timer rings until it is stopped (the wake word, "stop") or
``ring_s`` passes; it then leaves the list.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aioesphomeapi import api_pb2 as pb


@dataclass
class Timer:
    """One timer as Home Assistant last described it."""

    timer_id: str
    name: str
    total_s: int
    left_s: int  # when ``at`` was taken
    active: bool
    at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None  # monotonic; ringing from then on

    def seconds_left(self, now: float) -> int:
        """Seconds left now (paused timers stand still)."""
        if not self.active or self.finished_at is not None:
            return 0 if self.finished_at is not None else self.left_s
        return max(0, round(self.left_s - (now - self.at)))

    def to_json(self, now: float) -> dict[str, Any]:
        """What /health shows."""
        shown: dict[str, Any] = {
            "id": self.timer_id,
            "name": self.name,
            "total_s": self.total_s,
            "seconds_left": self.seconds_left(now),
            "active": self.active,
        }
        if self.finished_at is not None:
            shown["ringing_s"] = round(now - self.finished_at, 1)
        return shown


class Timers:
    """The timers Home Assistant told the kiosk about."""

    def __init__(self, ring_s: float) -> None:
        self.ring_s = ring_s
        self._timers: dict[str, Timer] = {}

    def on_event(self, event: pb.VoiceAssistantTimerEventResponse) -> Timer | None:
        """Apply an event; returns the timer when it has just finished (to ring)."""
        now = time.monotonic()
        if event.event_type == pb.VOICE_ASSISTANT_TIMER_CANCELLED:
            self._timers.pop(event.timer_id, None)
            return None
        timer = Timer(
            event.timer_id,
            event.name,
            event.total_seconds,
            event.seconds_left,
            event.is_active,
            at=now,
        )
        if event.event_type == pb.VOICE_ASSISTANT_TIMER_FINISHED:
            timer.finished_at = now
        self._timers[event.timer_id] = timer
        return timer if timer.finished_at is not None else None

    def _expire(self) -> None:
        """Drop the finished timers that rang ``ring_s``."""
        now = time.monotonic()
        for timer in list(self._timers.values()):
            if timer.finished_at is not None and now - timer.finished_at > self.ring_s:
                del self._timers[timer.timer_id]

    @property
    def ringing(self) -> list[Timer]:
        """Finished timers still ringing."""
        self._expire()
        return [t for t in self._timers.values() if t.finished_at is not None]

    def silence(self) -> int:
        """Stop every ringing timer (they leave the list); how many rang."""
        ringing = self.ringing
        for timer in ringing:
            del self._timers[timer.timer_id]
        return len(ringing)

    def to_json(self) -> list[dict[str, Any]]:
        """Every timer, soonest first."""
        now = time.monotonic()
        self._expire()
        timers = sorted(self._timers.values(), key=lambda t: t.seconds_left(now))
        return [timer.to_json(now) for timer in timers]
