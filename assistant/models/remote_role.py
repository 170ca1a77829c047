"""What every remote model backend shares: its failure, its status, its bounded retry.

A remote speech or vision model (models/openai_audio.py, models/wyoming_audio.py, ...)
implements its role's interface (interfaces.py) like a local one, and ``Remote`` besides:
``status`` for `/health`, `/metrics` and `assistant doctor`, ``close`` for its connections.
Every way a remote call can go wrong (refused, unreachable, too slow, garbage, too much) is
one ``RemoteFailed``, whose message names the server and the setting to check; the stages
report it as the turn's error, and the session goes on.

Retries are bounded (``<role>.retries``) and only for calls that failed before any answer
arrived: audio already played, or a transcript half read, is never asked for twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from assistant.errors import ModelError
from assistant.models.interfaces import SpeechToText, TextToSpeech

log = logging.getLogger(__name__)
T = TypeVar("T")


class RemoteFailed(ModelError):
    """A remote model server failed one call: down, too slow, refusing or answering garbage.

    ``before_answer``: nothing of the answer had arrived, so the call may be tried again.
    """

    def __init__(self, role: str, url: str, why: str, before_answer: bool = True) -> None:
        self.role, self.url, self.why, self.before_answer = role, url, why, before_answer
        self.what = " ".join(f"the {role} server at {url} {why}".split())  # without the advice
        fix = f'check that it is running and {role}.url, or set {role}.fallback = "local"'
        super().__init__(f"{self.what}; {fix}")


@dataclass(frozen=True)
class BackendStatus:
    """Where a role's model runs and how it answers, as `/health` and `doctor` show it."""

    role: str  # stt, tts, llm, vision
    backend: str  # local, openai, wyoming
    url: str  # "" for a local model
    ready: bool  # it answered the probe (a local model: its files are there)
    latency_ms: float | None = None  # the probe's round trip; None when not asked
    model: str = ""  # what it serves, where it says
    error: str = ""  # why it is not ready

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of `/health` and `doctor --json`."""
        return {
            "backend": self.backend,
            "url": self.url,
            "model": self.model,
            "ready": self.ready,
            "latency_ms": self.latency_ms,
            "error": self.error,
        }


class Remote(Protocol):
    """The part of a remote backend beyond its role's interface."""

    backend: str  # openai, wyoming
    url: str

    @property
    def calls(self) -> int:
        """Requests sent to the server, retries included (`/metrics`, the benches)."""
        ...

    def status(self, timeout_s: float = 2.0) -> BackendStatus:
        """Ask the server whether it answers (its model list, its info), within ``timeout_s``."""
        ...

    def close(self) -> None:
        """Close its connections; calls after it fail."""
        ...


class RemoteSpeechToText(SpeechToText, Remote, Protocol):
    """A speech-to-text model on a server (what models/remote_audio.py makes)."""


class RemoteTextToSpeech(TextToSpeech, Remote, Protocol):
    """A voice on a server (what models/remote_audio.py makes)."""


def retrying(call: Callable[[], T], retries: int, pause_s: float = 0.2) -> T:
    """``call()``, tried again up to ``retries`` times while it fails before any answer.

    A RemoteFailed after part of the answer arrived (``before_answer`` False) is not retried.
    The pause grows (0.2 s, 0.4 s, ...), so a server starting up is not hammered.
    """
    for attempt in range(retries + 1):
        try:
            return call()
        except RemoteFailed as exc:
            if not exc.before_answer or attempt == retries:
                raise
            log.info("%s; trying again (%d of %d)", exc.what, attempt + 1, retries)
            time.sleep(pause_s * (attempt + 1))
    raise AssertionError("unreachable")  # the loop returns or raises
