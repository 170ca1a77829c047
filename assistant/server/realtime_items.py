"""Conversation items of a Realtime session: create, retrieve, delete and truncate them.

The items the client sees are the conversation; a created message goes into the
conversation context, and after a delete or a truncate the context is rebuilt from them, so
the next reply reads exactly what the client holds. Truncating an assistant item to
``audio_end_ms`` keeps the words spoken in that much of its audio, as a barge-in does (the
reply's clauses and their audio are kept for that).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.errors import UserError
from assistant.pipeline.frames import ReplyAudioFrame
from assistant.pipeline.heard import ReplyLedger
from assistant.server.pictures import show_picture
from assistant.server.realtime_audio import AudioIn
from assistant.server.realtime_client import check_position
from assistant.server.realtime_events import new_id, user_item
from assistant.server.realtime_tools import create_output, tool_message
from assistant.types import ChatMessage

if TYPE_CHECKING:
    from assistant.server.realtime import RealtimeSession

KEPT_REPLIES = 8  # the latest replies whose audio can still be truncated


class SpokenReplies:
    """The audio of the latest replies, by turn, for truncating them afterwards."""

    def __init__(self) -> None:
        self.ledger = ReplyLedger()
        self.rates: dict[int, int] = {}

    def add(self, frame: ReplyAudioFrame) -> None:
        """Keep one piece of a reply's audio."""
        self.ledger.add(frame)
        self.rates[frame.turn_id] = frame.sample_rate
        if len(self.rates) > KEPT_REPLIES:
            oldest = min(self.rates)
            self.ledger.forget(oldest)
            del self.rates[oldest]

    def heard(self, turn: int, audio_end_ms: int) -> str:
        """The words in the first ``audio_end_ms`` of turn ``turn``'s audio."""
        chunks = self.ledger.chunks(turn)
        rate = self.rates.get(turn, 0)
        total_ms = sum(len(c.pcm) for c in chunks) * 1000 // rate if rate else 0
        if audio_end_ms > total_ms:
            raise UserError(f"audio_end_ms {audio_end_ms} is past the item's {total_ms} ms")
        played = audio_end_ms * rate // 1000
        for chunk in chunks:
            chunk.played = min(len(chunk.pcm), max(0, played))
            played -= len(chunk.pcm)
        return self.ledger.heard(turn)


def user_parts(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The checked content parts of a user message from ``conversation.item.create``."""
    if item.get("type", "message") != "message" or item.get("role") != "user":
        raise UserError(
            "items created here are user messages ({'type': 'message', 'role': 'user'})"
        )
    content = item.get("content")
    if not isinstance(content, list) or not content:
        raise UserError("a message needs 'content': a list of parts")
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        field = _PART_FIELDS.get(kind) if isinstance(kind, str) else None
        if field is None or not isinstance(part.get(field), str):
            raise UserError(
                "message parts are input_text (with 'text'), input_audio (with 'audio', "
                "base64 in the session's input format) or input_image (with 'image_url', "
                "a data: URI)"
            )
        parts.append({"type": kind, field: part[field]})
    return parts


_PART_FIELDS = {"input_text": "text", "input_audio": "audio", "input_image": "image_url"}


def item_text(item: dict[str, Any]) -> str:
    """The words of a message item, whichever kind of content holds them."""
    words = [part.get("text") or part.get("transcript") or "" for part in item["content"]]
    return " ".join(w for w in words if w)


def history(items: dict[str, dict[str, Any]]) -> list[ChatMessage]:
    """The model's history as the client's items say it (function calls and outputs too)."""
    messages = [
        tool_message(item, items) or ChatMessage(item["role"], item_text(item))
        for item in items.values()
    ]
    return [m for m in messages if m.content]


async def create(session: RealtimeSession, event: dict[str, Any]) -> None:
    """``conversation.item.create``: a user message, or a function call's output.

    A message's audio is transcribed; a picture is what the following replies look at.
    """
    check_position(event, session.emitter.last_item)
    item = event["item"]
    if item.get("type") == "function_call_output":
        await create_output(session, item)
        return
    parts = user_parts(item)
    for part in parts:
        if part["type"] == "input_image":
            await show_picture(session.engine, session.seeing, part["image_url"])
        elif part["type"] == "input_audio":
            pcm = AudioIn(session.config.input_format).decode(part.pop("audio"))
            part["transcript"] = (await session.engine.hub.transcribe(pcm)).text
    stored = user_item(str(item.get("id") or new_id("item")), parts)
    session.emitter.add_item(stored)
    session.emitter.emit("conversation.item.done", previous_item_id=None, item=stored)
    if text := item_text(stored):
        session.conversation_now().add_user(text)


def _item(session: RealtimeSession, event: dict[str, Any]) -> dict[str, Any]:
    item_id = event.get("item_id")
    item = session.emitter.items.get(item_id) if isinstance(item_id, str) else None
    if item is None:
        raise UserError(f"no item {item_id!r} in this conversation")
    return item


async def retrieve(session: RealtimeSession, event: dict[str, Any]) -> None:
    """``conversation.item.retrieve``."""
    session.emitter.emit("conversation.item.retrieved", item=_item(session, event))


async def delete(session: RealtimeSession, event: dict[str, Any]) -> None:
    """``conversation.item.delete``: gone from the items and from the model's history."""
    item = _item(session, event)
    _idle(session)
    items = session.emitter.items
    del items[item["id"]]
    session.emitter.last_item = next(reversed(items), None)
    session.conversation_now().context.replace(history(items))
    session.emitter.emit("conversation.item.deleted", item_id=item["id"])


async def truncate(session: RealtimeSession, event: dict[str, Any]) -> None:
    """``conversation.item.truncate``: an assistant reply cut to what the user heard."""
    item = _item(session, event)
    _idle(session)
    end_ms = event.get("audio_end_ms")
    if item.get("role") != "assistant" or item["content"][0]["type"] != "output_audio":
        raise UserError("only an assistant's audio can be truncated")
    if not isinstance(end_ms, int) or isinstance(end_ms, bool) or end_ms < 0:
        raise UserError("'audio_end_ms' must be an integer >= 0")
    if event.get("content_index", 0) != 0:
        raise UserError("an assistant item has one content part: content_index 0")
    turn = session.emitter.turns_of_items.get(item["id"])
    if turn is None:
        raise UserError("that reply's audio is no longer kept; only the latest can be truncated")
    heard = session.spoken.heard(turn, end_ms)
    item["content"][0]["transcript"] = heard
    session.conversation_now().context.replace(history(session.emitter.items))
    session.emitter.emit("conversation.item.truncated", item_id=item["id"], content_index=0,
                         audio_end_ms=end_ms)  # fmt: skip


def _idle(session: RealtimeSession) -> None:
    if session.emitter.active() is not None:
        raise UserError("items cannot change while a response is in progress; cancel it first")
