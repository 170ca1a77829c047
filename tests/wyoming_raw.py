"""A Wyoming client on a plain socket, for events the `wyoming` package would not write.

Its writer cannot send a data part nested 100,000 deep (json.dumps recurses too) or a field of
the wrong type through the typed events, so the tests build the bytes here; replies are read
with the package's own reader.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from wyoming.event import Event, read_event


def raw_event(kind: str, data: bytes | dict[str, Any] | None = None, payload: bytes = b"") -> bytes:
    """One event on the wire: header line, data part (JSON text as given) and payload."""
    part = json.dumps(data).encode() if isinstance(data, dict) else (data or b"")
    header: dict[str, Any] = {"type": kind, "data_length": len(part)}
    if payload:
        header["payload_length"] = len(payload)
    return json.dumps(header).encode() + b"\n" + part + payload


class RawClient:
    """One connection; ``send`` raw events, ``until`` reads replies up to an event type."""

    def __init__(self, port: int, timeout: float = 60) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until(self, kind: str) -> list[Event]:
        """Events up to and including the first of ``kind`` (AssertionError if it closes first)."""
        got: list[Event] = []
        while True:
            event = read_event(self.reader)
            assert event is not None, f"connection closed after {[e.type for e in got]}"
            got.append(event)
            if event.type == kind:
                return got

    def closed(self) -> bool:
        """Whether the server closes the connection without another event."""
        return read_event(self.reader) is None

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
