"""Structured logs: one JSON object per line on stderr, for journald and log shippers."""

from __future__ import annotations

import contextlib
import faulthandler
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any


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


@contextlib.contextmanager
def json_logging(level: int = logging.INFO) -> Iterator[None]:
    """While the block runs, every log record, and what C libraries print, is JSON on stderr.

    Audio and model libraries (ALSA, PortAudio, llama.cpp) write lines of their own to file
    descriptor 2; those are read from a pipe and logged as records of the ``native`` logger, so
    every line on stderr is JSON. Afterwards stderr is the real one again, with every line
    read: an error that ends the program (reported by the caller) is printed, not lost.
    """
    sys.stderr.flush()
    real = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    pump = threading.Thread(target=_log_lines, args=(read,), daemon=True, name="native-stderr")
    pump.start()
    faulthandler.enable(real)  # a crash's stack still reaches the journal, not the dead pipe
    handler = _Stderr(real)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "uvicorn.access", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real.fileno(), 2)  # the pipe's last writer is gone: the pump reads to its end
        pump.join(2)
        root.handlers[:], level_before = saved
        root.setLevel(level_before)
        faulthandler.enable(sys.stderr)


def _log_lines(read: int) -> None:
    native = logging.getLogger("native")
    with os.fdopen(read, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.strip():
                native.warning("%s", line.rstrip())
