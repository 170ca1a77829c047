"""Starting real servers for the tests, and reading their WebSocket replies."""

import contextlib
import itertools
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import IO

import httpx
import openai

from tests.conftest import ASSISTANT, REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    *args: str,
    env: dict[str, str] | None = None,
    port: int | None = None,
    log: IO[str] | None = None,
    program: list[str] | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """`assistant serve` on ``port`` (a free one by default), once /health answers.

    With ``log`` its stderr goes to that file (which never fills up as a pipe would).
    ``program``: the command line that runs `assistant` (``python -m assistant``).
    """
    port = port or free_port()
    proc = subprocess.Popen(
        [*(program or ASSISTANT), "serve", "--port", str(port), *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if log is None else log,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server did not start: {proc.communicate()[1]}")


@contextlib.contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`assistant serve` for the length of a block (its URL); stopped after, whatever happened."""
    proc, url = start(*args, env=env)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def openai_client(url: str) -> openai.OpenAI:
    """The official SDK pointed at the server at ``url``."""
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused")


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/ws"


def voice_messages(connection: object, until: str, timeout: float = 60) -> tuple[list[dict], bytes]:
    """JSON messages and reply audio received until a message of type ``until``."""
    messages: list[dict] = []
    audio = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = connection.recv(timeout=max(0.1, deadline - time.monotonic()))  # type: ignore[attr-defined]
        if isinstance(item, bytes):
            audio += item[8:]  # after the header: turn id, sequence
            continue
        message = json.loads(item)
        messages.append(message)
        if message["type"] == until:
            return messages, bytes(audio)
    raise AssertionError(f"no {until!r} message; got {[m['type'] for m in messages]}")


def assert_partials_lead_to_the_final(messages: list[dict]) -> None:
    """``/ws/voice``'s transcripts of one turn keep the contract of partial transcripts.

    Each non-final one carries ``stable``, the confirmed words its ``text`` begins with; they
    all come before the final; the confirmed words only grow, and the final begins with them.
    A partial made at a pause confirms nothing (``stable`` empty), so only non-empty ones are
    compared.
    """
    transcripts = [m for m in messages if m["type"] == "transcript"]
    finals = [i for i, m in enumerate(transcripts) if m["final"]]
    assert len(finals) == 1 and finals[0] == len(transcripts) - 1, transcripts
    final, partials = transcripts[-1]["text"], transcripts[:-1]
    for partial in partials:
        assert isinstance(partial["stable"], str) and partial["text"].startswith(partial["stable"])
    confirmed = [p["stable"] for p in partials if p["stable"]]
    for before, after in itertools.pairwise(confirmed):
        assert after.startswith(before), confirmed
    assert not confirmed or final.startswith(confirmed[-1]), (confirmed, final)
