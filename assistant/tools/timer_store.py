"""Timers and alarms, kept in a JSON file under the user data dir so they survive a restart.

Every change reads the file, changes it and writes it atomically (a temporary file beside it,
flushed to disk, then renamed over it), so a crash or a second process never leaves half a
file; the file, not memory, is the truth, which lets a kiosk and a chat share it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from platformdirs import user_data_dir


def default_path() -> Path:
    """Where timers live: ``timers.json`` in the user data dir (``$XDG_DATA_HOME/assistant``)."""
    return Path(user_data_dir("assistant")) / "timers.json"


@dataclass(frozen=True)
class Timer:
    """A timer (``kind`` "timer") or an alarm ("alarm") that goes off at ``due`` (epoch s)."""

    id: str
    kind: str
    label: str
    due: float
    length_s: float = 0.0  # a timer's length, for "your 5 minute timer"

    def name(self) -> str:
        """How it is referred to aloud: "pasta timer", "5 minute timer", "7:00 AM alarm"."""
        if self.label:
            return f"{self.label} {self.kind}"
        if self.kind == "timer":
            return f"{spoken_duration(self.length_s, joined=True)} timer"
        return "alarm"


def spoken_duration(seconds: float, joined: bool = False) -> str:
    """A length as said: "1 hour 5 minutes", or joined as in "a 5 minute timer"."""
    whole = max(0, round(seconds))
    parts = []
    for size, unit in ((3600, "hour"), (60, "minute"), (1, "second")):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 or joined else 's'}")
    return " ".join(parts) or ("0 second" if joined else "0 seconds")


class TimerStore:
    """The timers file: add, list, remove; each call sees the other processes' changes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def all(self) -> list[Timer]:
        """Every timer, soonest first (an unreadable file counts as none, and is replaced)."""
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
            timers = [Timer(**entry) for entry in entries]
        except (OSError, ValueError, TypeError):
            return []
        return sorted(timers, key=lambda t: t.due)

    def add(self, kind: str, label: str, due: float, length_s: float = 0.0) -> Timer:
        """A new timer, saved before this returns."""
        timer = Timer(uuid.uuid4().hex[:8], kind, label, due, length_s)
        self._save([*self.all(), timer])
        return timer

    def remove(self, ids: set[str]) -> list[Timer]:
        """Remove the timers with these ids; returns those that were still there."""
        timers = self.all()
        gone = [t for t in timers if t.id in ids]
        if gone:
            self._save([t for t in timers if t.id not in ids])
        return gone

    def due(self, now: float | None = None) -> list[Timer]:
        """The timers whose time has come."""
        moment = time.time() if now is None else now
        return [t for t in self.all() if t.due <= moment]

    def _save(self, timers: list[Timer]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps([asdict(t) for t in timers], indent=1)
        handle, temporary = tempfile.mkstemp(prefix=".timers-", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            Path(temporary).replace(self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
