"""A running process's output read as it comes: JSON objects queued, other lines kept."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO, Any

Json = dict[str, Any]


class Lines:
    """One stream of a process, read on a thread."""

    def __init__(self, process: subprocess.Popen[str], stream: IO[str] | None) -> None:
        assert stream is not None
        self.process = process
        self.objects: queue.Queue[Json] = queue.Queue()
        self.seen: list[Json] = []  # objects already taken, in order
        self.text: list[str] = []  # lines that are not JSON objects
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for raw in stream:
            line = raw.rstrip()
            try:
                item = json.loads(line) if line else None
            except ValueError:
                item = None
            if isinstance(item, dict):
                self.objects.put(item)
            elif line:
                self.text.append(line)

    def wait_for(self, match: Callable[[Json], bool], timeout: float = 60) -> Json:
        """The next object that matches (those before it are kept in ``seen``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                item = self.objects.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None and not self._thread.is_alive():
                    break  # it has exited and everything it wrote has been read
                continue
            self.seen.append(item)
            if match(item):
                return item
        code = self.process.poll()
        raise AssertionError(
            f"nothing matched (exit code {code}); last objects {self.seen[-8:]}, "
            f"other lines {self.text[-5:]}"
        )

    def drain(self) -> list[Json]:
        """Every object so far (the ones not yet taken are moved to ``seen``)."""
        while True:
            try:
                self.seen.append(self.objects.get_nowait())
            except queue.Empty:
                return self.seen

    def join(self, timeout: float = 5) -> None:
        """Wait until the stream has been read to its end."""
        self._thread.join(timeout)
