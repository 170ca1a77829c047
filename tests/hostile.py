"""A real server whose log is kept, and raw clients of its voice doors, for hostile-input tests."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.serving import start

# What a server must never log, whatever a client sends: an exception out of the app, a task
# or generator left behind, a last-resort catch (server_error / INTERNAL is a bug's answer).
NEVER_LOGGED = (
    "Traceback",
    "Exception in ASGI application",
    "Unhandled exception",
    "Task was destroyed but it is pending",
    "asynchronous generator is already running",
    "internal error",  # the last-resort answer of the voice doors: a bug
)


class LoggedServer:
    """`assistant serve` with its output in a file, read back by ``log``."""

    def __init__(self, directory: Path, env: dict[str, str] | None = None) -> None:
        self.path = directory / "server.log"
        self._file = self.path.open("w")
        self.proc, self.url = start(env=env, log=self._file)

    def ws(self, path: str) -> str:
        return self.url.replace("http://", "ws://") + path

    def log(self) -> str:
        if not self._file.closed:
            self._file.flush()
        return self.path.read_text()

    def assert_clean(self) -> None:
        log = self.log()
        found = [words for words in NEVER_LOGGED if words in log]
        assert not found, f"the server logged {found}:\n{log[-4000:]}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        code = self.proc.wait(timeout=60)
        self._file.close()
        return code


DEEP = '{"type": "session.update", "event_id": "deep", "session": ' + '{"a": ' * 30000
DEEP += "1" + "}" * 30001


def server_vad(**fields: Any) -> str:
    detection = json.dumps({"type": "server_vad", **fields})
    return json.dumps({"type": "session.update", "event_id": "vad"})[:-1] + (
        f', "session": {{"audio": {{"input": {{"turn_detection": {detection}}}}}}}}}'
    )


# The cases of issue 33: the raw text sent, and the param its error must name.
REALTIME_CASES = [
    (DEEP, None),
    (
        '{"type": "session.update", "event_id": "e1", "session": {"audio": {"input": '
        '{"format": {"type": []}}}}}',
        "session.audio.input.format.type",
    ),
    (
        '{"type": "session.update", "event_id": "e2", "session": {"audio": {"input": '
        '{"format": {"type": {}}}}}}',
        "session.audio.input.format.type",
    ),
    (
        server_vad(silence_duration_ms="abc"),
        "session.audio.input.turn_detection.silence_duration_ms",
    ),
    (server_vad(threshold=None), "session.audio.input.turn_detection.threshold"),
    (server_vad(prefix_padding_ms=[1]), "session.audio.input.turn_detection.prefix_padding_ms"),
    (
        server_vad().replace('"server_vad"', '"server_vad", "silence_duration_ms": 1e999'),
        "session.audio.input.turn_detection.silence_duration_ms",
    ),
    (
        '{"type": "session.update", "event_id": "t", "session": {"temperature": NaN}}',
        "session.temperature",
    ),
    (  # free-form fields too: NaN would be echoed back in session.updated as text not JSON
        '{"type": "session.update", "event_id": "n2", "session": {"audio": {"input": '
        '{"transcription": {"model": "whisper-1", "prompt": "x", "language": "en", '
        '"extra": [1, NaN]}}}}}',
        "session.audio.input.transcription.extra[1]",
    ),
    (
        '{"type": "session.update", "event_id": "n3", "session": {"tools": [{"type": '
        '"function", "name": "f", "parameters": {"type": "object", "properties": {"a": '
        '{"type": "integer", "maximum": Infinity}}}}]}}',
        "session.tools[0].parameters.properties.a.maximum",
    ),
]


VOICE_CASES: list[tuple[str | bytes, str, str | None]] = [
    ('{"type": "text", "text": ' + "[" * 30000 + "]" * 30000 + "}", "BAD_REQUEST", None),
    ('{"type": "text", "text": 5}', "BAD_REQUEST", "text"),
    ('{"type": "text", "text": null}', "BAD_REQUEST", "text"),
    ('{"type": "text", "text": NaN}', "BAD_REQUEST", "text"),
    ('{"type": "image", "data": 5}', "BAD_REQUEST", "data"),
    ('{"type": []}', "BAD_REQUEST", "type"),
    ('{"type": {"a": 1}}', "BAD_REQUEST", "type"),
    ("[1, 2]", "BAD_REQUEST", None),
    ("{not json", "BAD_REQUEST", None),
    (json.dumps({"type": "text", "text": "x" * (2 << 20)}), "TOO_LARGE", None),
    (b"\x01\x02\x03", "BAD_AUDIO", None),
]


_sentinels = itertools.count(1)


class Realtime:
    """A raw /v1/realtime client: any text goes out, server events come back as dicts."""

    def __init__(self, server: LoggedServer) -> None:
        self.socket: ClientConnection = connect(
            server.ws("/v1/realtime?model=x"), max_size=None, open_timeout=30
        )
        assert self.next()["type"] == "session.created"

    def next(self, timeout: float = 30) -> dict[str, Any]:
        item = self.socket.recv(timeout=timeout)
        assert isinstance(item, str), "Realtime server events are text"
        return dict(json.loads(item))

    def send(self, event: dict[str, Any] | str | bytes) -> None:
        self.socket.send(event if isinstance(event, str | bytes) else json.dumps(event))

    def until(self, kind: str, timeout: float = 60) -> list[dict[str, Any]]:
        """Events up to and including the first of type ``kind``."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got.append(self.next(max(0.1, deadline - time.monotonic())))
            if got[-1]["type"] == kind:
                return got
        raise AssertionError(f"no {kind} in {[e['type'] for e in got]}")

    def answers(self, event: dict[str, Any] | str | bytes) -> list[dict[str, Any]]:
        """What the server sent after ``event``, up to a sentinel's error (always one).

        The sentinel asks for an item that does not exist: its error, with its own event id,
        comes after everything ``event`` caused.
        """
        self.send(event)
        sentinel = f"sentinel-{next(_sentinels)}"
        self.send({"type": "conversation.item.retrieve", "item_id": sentinel, "event_id": sentinel})
        got = []
        while (reply := self.next())["type"] != "error" or reply["error"]["event_id"] != sentinel:
            got.append(reply)
        return got

    def close(self) -> None:
        self.socket.close()


class Voice:
    """A raw /ws/voice client."""

    def __init__(self, server: LoggedServer) -> None:
        self.socket: ClientConnection = connect(
            server.ws("/ws/voice"), max_size=None, open_timeout=30
        )
        assert self.next()["type"] == "ready"

    def next(self, timeout: float = 30) -> dict[str, Any]:
        while isinstance(item := self.socket.recv(timeout=timeout), bytes):
            pass  # reply audio
        return dict(json.loads(item))

    def answers(self, message: str | bytes) -> list[dict[str, Any]]:
        """The JSON messages after ``message``, up to a sentinel's error (an unknown type)."""
        self.socket.send(message)
        sentinel = f"sentinel-{next(_sentinels)}"
        self.socket.send(json.dumps({"type": sentinel}))
        got = []
        while sentinel not in json.dumps(reply := self.next()):
            got.append(reply)
        return got

    def until(self, kind: str, timeout: float = 90) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got.append(self.next(max(0.1, deadline - time.monotonic())))
            if got[-1]["type"] == kind:
                return got
        raise AssertionError(f"no {kind} in {[m['type'] for m in got]}")

    def close(self) -> None:
        self.socket.close()
