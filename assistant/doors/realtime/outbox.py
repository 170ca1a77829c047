"""The Realtime session's outbox: server events sent in order, and the items they announce.

Every item event names the item before it (``previous_item_id``), so the conversation's items,
in order, are kept where the events are queued: a client that applies the events in the order
they are sent holds the same list.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]
_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    """A server-made id, e.g. ``item_12``."""
    return f"{prefix}_{next(_ids)}"


class Outbox:
    """Queues server events and sends them one after another; keeps the items they announce."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._writer = asyncio.ensure_future(self._write())
        self.last_item: str | None = None
        self.items: dict[str, dict[str, Any]] = {}  # every item of the conversation, in order
        self.sent: dict[str, str] = {}  # audio item id -> its words sent as deltas so far

    def emit(self, kind: str, **fields: Any) -> None:
        """Queue one server event."""
        self._outbox.put_nowait({"type": kind, "event_id": new_id("event"), **fields})

    async def _write(self) -> None:
        while (message := await self._outbox.get()) is not None:
            await self._send(message)

    async def close(self) -> None:
        """Send what is queued, then stop."""
        self._outbox.put_nowait(None)
        await self._writer

    def add_item(self, item: dict[str, Any]) -> None:
        """A new item at the end of the conversation (``conversation.item.added``)."""
        self.items[item["id"]] = item
        self.emit("conversation.item.added", previous_item_id=self.last_item, item=item)
        self.last_item = item["id"]

    def commit(self, item_id: str) -> None:
        """The user's audio became item ``item_id``, its words still to come."""
        self.emit("input_audio_buffer.committed", previous_item_id=self.last_item, item_id=item_id)
        self.add_item(user_item(item_id, [{"type": "input_audio", "transcript": None}]))

    def confirmed(self, item_id: str, stable: str) -> None:
        """Words of audio item ``item_id`` confirmed while the user speaks: the new ones.

        Only words that extend what was sent go out (a hypothesis begun again sends nothing
        until it does), so the deltas always add up to a prefix of what was said.
        """
        sent = self.sent.get(item_id, "")
        if len(stable) > len(sent) and stable.startswith(sent):
            self._heard_delta(item_id, stable[len(sent) :])
            self.sent[item_id] = stable

    def transcribed(self, item_id: str, text: str) -> None:
        """The words of audio item ``item_id``, after what went out as deltas.

        The last delta is what ``text`` adds to those, so the deltas add up to the transcript.
        A final that does not begin with them (the recognizer began its hypothesis again)
        adds none: ``completed`` holds the item's words.
        """
        sent = self.sent.pop(item_id, "")
        if text.startswith(sent) and (rest := text[len(sent) :]):
            self._heard_delta(item_id, rest)
        common = {"item_id": item_id, "content_index": 0}
        self.emit("conversation.item.input_audio_transcription.completed", **common,
                  transcript=text, usage={"type": "duration", "seconds": 0})  # fmt: skip
        item = self.items[item_id]
        item["content"][0]["transcript"] = text
        item["status"] = "completed"
        self.emit("conversation.item.done", previous_item_id=None, item=item)

    def transcription_failed(self, item_id: str, message: str) -> None:
        """Audio item ``item_id`` was not transcribed (its recognition server failed)."""
        self.sent.pop(item_id, None)
        error = {"type": "transcription_error", "code": "transcription_failed",
                 "message": message, "param": None}  # fmt: skip
        self.emit("conversation.item.input_audio_transcription.failed", item_id=item_id,
                  content_index=0, error=error)  # fmt: skip

    def _heard_delta(self, item_id: str, text: str) -> None:
        self.emit("conversation.item.input_audio_transcription.delta", item_id=item_id,
                  content_index=0, delta=text)  # fmt: skip


def user_item(item_id: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    """A user message item."""
    return {"id": item_id, "type": "message", "object": "realtime.item", "status": "completed",
            "role": "user", "content": content}  # fmt: skip
