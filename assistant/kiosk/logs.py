"""Structured logs: one JSON object per line on stderr, for journald and log shippers."""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import sys
import threading
import time
from typing import Any, TextIO


class JsonFormatter(logging.Formatter):
    """Formats a record as ``{"time", "level", "logger", "message", ...fields}``."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON; ``extra={"fields": {...}}`` adds fields."""
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= getattr(record, "fields", {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to stderr; a record that cannot be written is dropped.

    A full disk under a log file, or a closed pipe, must not stop the assistant.
    """

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop the record."""


def json_logging(level: int = logging.INFO) -> None:
    """Send every log record to stderr as JSON, and what C libraries print there too.

    Audio and model libraries (ALSA, PortAudio, llama.cpp) write lines of their own to file
    descriptor 2; those are read back from a pipe and logged as records of the ``native``
    logger, so every line on stderr is JSON.
    """
    handler = _Stderr(_native_lines_logged())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "uvicorn.access", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _native_lines_logged() -> TextIO:
    """Point fd 2 at a pipe whose lines are logged; the returned stream is the real stderr."""
    sys.stderr.flush()
    real = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    native = logging.getLogger("native")

    def pump() -> None:
        with os.fdopen(read, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.strip():
                    native.warning("%s", line.rstrip())

    threading.Thread(target=pump, daemon=True, name="native-stderr").start()
    faulthandler.enable(real)  # a crash's stack still reaches the journal, not the dead pipe
    return real
