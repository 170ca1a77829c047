"""A raw Realtime API client for the tests, its events checked against the `openai` SDK's types.

Also a microphone at real-time pace, and a client's copy of the conversation, built by
applying the events in order.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter
from websockets.asyncio.client import ClientConnection, connect

RT_RATE = 24000
CHUNK_S = 0.1
SERVER_EVENT: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)


class Wire:
    """One Realtime connection: events sent, events received (every one kept, in order)."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.events: list[dict[str, Any]] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[Wire]:
        """A session at ``url`` (http://host:port), once ``session.created`` came."""
        ws = url.replace("http://", "ws://") + "/v1/realtime?model=local"
        async with connect(ws, max_size=1 << 24) as socket:
            wire = cls(socket)
            await wire.until("session.created")
            yield wire

    async def send(self, kind: str, **fields: Any) -> None:
        """One client event."""
        await self.socket.send(json.dumps({"type": kind, **fields}))

    async def recv(self, timeout: float = 90) -> dict[str, Any]:
        """The next server event, valid by the SDK's types."""
        event = json.loads(await asyncio.wait_for(self.socket.recv(), timeout))
        SERVER_EVENT.validate_python(event)  # the SDK's own model of it
        self.events.append(event)
        return event

    async def until(self, kind: str, timeout: float = 90, errors: bool = False) -> list[Any]:
        """Events up to the first of type ``kind``; an error fails, unless ``errors`` says so."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            event = await self.recv(max(0.1, deadline - time.monotonic()))
            got.append(event)
            if event["type"] == kind:
                return got
            assert errors or event["type"] != "error", event

    async def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """What comes within ``seconds``."""
        got: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    got.append(await self.recv())
        return got

    async def update(self, **session: Any) -> dict[str, Any]:
        """``session.update``; the session as ``session.updated`` describes it."""
        await self.send("session.update", session={"type": "realtime", **session})
        return dict((await self.until("session.updated"))[-1]["session"])


class Microphone:
    """Streams what it is given at real-time pace, and silence in between, as a live mic."""

    def __init__(self, wire: Wire, rate: int = RT_RATE) -> None:
        self.wire, self.rate = wire, rate
        self.queue = np.zeros(0, np.int16)
        self.task: asyncio.Task[None] | None = None

    def say(self, pcm: np.ndarray) -> None:
        """Queue ``pcm`` (int16 at the microphone's rate)."""
        self.queue = np.concatenate([self.queue, pcm.astype(np.int16)])

    async def __aenter__(self) -> Microphone:
        self.task = asyncio.ensure_future(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def _run(self) -> None:
        step, began, sent = int(self.rate * CHUNK_S), time.monotonic(), 0
        while True:
            piece, self.queue = self.queue[:step], self.queue[step:]
            piece = np.concatenate([piece, np.zeros(step - len(piece), np.int16)])
            data = base64.b64encode(piece.astype("<i2").tobytes()).decode()
            await self.wire.send("input_audio_buffer.append", audio=data)
            sent += 1
            await asyncio.sleep(max(0.0, began + sent * CHUNK_S - time.monotonic()))


def replay(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation a client holds after applying ``events`` in order."""
    items: list[dict[str, Any]] = []

    def index(item_id: str | None) -> int:
        return next(i for i, item in enumerate(items) if item["id"] == item_id)

    for event in events:
        kind = event["type"]
        if kind == "conversation.item.added":
            previous = event["previous_item_id"]
            at = 0 if previous is None else index(previous) + 1
            items.insert(at, json.loads(json.dumps(event["item"])))
        elif kind == "conversation.item.done":
            items[index(event["item"]["id"])] = json.loads(json.dumps(event["item"]))
        elif kind == "conversation.item.deleted":
            del items[index(event["item_id"])]
        elif kind == "conversation.item.input_audio_transcription.completed":
            part = items[index(event["item_id"])]["content"][event["content_index"]]
            part["transcript"] = event["transcript"]
    return items


def words(item: dict[str, Any]) -> str:
    """The words of a message item, in lower case."""
    parts = item.get("content") or []
    return " ".join(p.get("text") or p.get("transcript") or "" for p in parts).lower()


def assert_transcription_adds_up(events: list[dict[str, Any]]) -> None:
    """Each audio item's transcription deltas, in order, add up to its ``completed`` transcript.

    Deltas may come while the user speaks (the words confirmed so far) and at the final (the
    rest); every one names an item that ``speech_started`` or ``committed`` announced.
    """
    announced = {e["item_id"] for e in events if e["type"].startswith("input_audio_buffer.")}
    deltas: dict[str, str] = {}
    for event in events:
        kind = event["type"]
        if kind == "conversation.item.input_audio_transcription.delta":
            assert event["item_id"] in announced and event["content_index"] == 0, event
            deltas[event["item_id"]] = deltas.get(event["item_id"], "") + event["delta"]
        elif kind == "conversation.item.input_audio_transcription.completed":
            assert deltas.pop(event["item_id"], "") == event["transcript"], event
    assert not deltas, f"deltas of items never completed: {deltas}"
