"""A running `assistant kiosk` on the private PulseAudio, read through its JSON log lines.

Shared by tests/test_kiosk.py and bench/kiosk.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import ASSISTANT, REPO
from tests.processes import Json, Lines
from tests.pulse import PulseServer
from tests.serving import free_port


class Kiosk:
    """A running `assistant kiosk` and the JSON lines it logs."""

    def __init__(self, pulse: PulseServer, *settings: str) -> None:
        self.port = free_port()
        sets = [arg for setting in settings for arg in ("--set", setting)]
        self.process = subprocess.Popen(
            [*ASSISTANT, *sets, "kiosk", "--port", str(self.port)],
            cwd=REPO,
            env={**os.environ, **pulse.env, "PATH": "/usr/bin:/bin"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Lines(self.process, self.process.stderr)  # JSON lines, one per record
        self.wait_for = self.log.wait_for

    def wait_listening(self) -> None:
        """Until a conversation runs (and the noise floor has been measured)."""
        self.wait_for(lambda e: e.get("state") == "listening", timeout=120)
        time.sleep(2.0)

    def turn(self, timeout: float = 60) -> Json:
        """The next completed turn's report."""
        entry: Json = self.wait_for(lambda e: e["message"] == "turn", timeout)["turn"]
        return entry

    def rss_kb(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])

    def health(self) -> Json:
        answer: Json = httpx.get(f"{self.url}/health", timeout=10).json()
        return answer

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; the exit code and how long it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)  # a hang guard; how fast it stops is bench/kiosk.py's
        seconds = time.monotonic() - started
        self.log.join()
        self.log.drain()
        return code, seconds
