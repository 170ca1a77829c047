"""The conversation's events, told as Realtime API server events, in order, through one outbox.

A turn's user speech becomes a user item (``input_audio_buffer.speech_started``, the words
confirmed while the user speaks as transcription deltas, ``speech_stopped``, ``committed``,
``conversation.item.added``, the rest of its transcription and ``conversation.item.done``);
its reply becomes a response (``response.created``) whose assistant message item opens with
its first words (``output_item.added``, ``content_part.added``, the deltas, then the ``.done``
events), or whose output is the function calls the client runs (realtime/tools.py), and ends
with ``response.done``. A reply is finished when all its audio has been played
(``completed``, ``incomplete`` at the token limit), or when it was stopped (``cancelled``,
keeping only the words that were heard: ``turn_detected`` when the user spoke,
``client_cancelled`` after ``response.cancel``).

A turn taken back because the user went on speaking (``Merged``) leaves nothing: its response
ends ``cancelled`` (``turn_detected``), then ``conversation.item.deleted`` removes its user
item and its output items, as the model's history forgets them; the joined words come as the
next turn. A client that applies the events in order holds the server's conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.doors.realtime.outbox import Outbox, Send, new_id, user_item
from assistant.pipeline import events
from assistant.pipeline.events import Event

__all__ = [
    "Emitter",
    "Response",
    "assistant_item",
    "new_id",
    "response_json",
    "user_item",
]


@dataclass
class Response:
    """The reply of one turn: one response, whose output is its message or its function calls."""

    id: str
    item_id: str  # of its assistant message, once its first words come
    turn: int
    audio: bool
    kept: bool = True  # False: out of band, not an item of the conversation
    text: str = ""
    tokens: int = 0
    finish_reason: str = "stop"
    done: bool = False
    output: list[dict[str, Any]] = field(default_factory=list)  # its output items, in order
    message_index: int | None = None  # where its message is in ``output``, once opened
    cancel_reason: str = "turn_detected"  # or client_cancelled (``response.cancel``)


class Emitter(Outbox):
    """Tells the conversation's events (user speech, replies) as Realtime server events."""

    def __init__(self, send: Send, audio: bool) -> None:
        super().__init__(send)
        self.audio = audio  # output modality: audio (with its transcript) or text
        self.responses: dict[int, Response] = {}
        self.user_items: dict[int, str] = {}  # turn -> item id
        self._speech_item: str | None = None  # the item of speech not yet a turn
        self.turns_of_items: dict[str, int] = {}  # assistant item id -> its turn

    def active(self) -> Response | None:
        """The response being given, if any."""
        return next((r for r in self.responses.values() if not r.done), None)

    def on_event(self, event: Event) -> None:
        """A conversation event (the bus holds back those of turns not yet confirmed)."""
        turn = event.turn_id
        match event:
            case events.SpeechStarted(start=start):
                self._speech_item = self._speech_item or new_id("item")
                self.emit("input_audio_buffer.speech_started", audio_start_ms=int(start * 1000),
                          item_id=self._speech_item)  # fmt: skip
            case events.PartialTranscript(stable=stable) if self._speech_item is not None:
                self.confirmed(self._speech_item, stable)  # turn detection on: words as heard
            case events.Utterance(end=end):
                self._user_audio(turn, int(end * 1000))
            case events.Transcript(text=text, stt_ms=stt_ms) if stt_ms is not None:
                self._transcribed(turn, text)
            case events.LlmStarted(spoken=spoken, kept=kept):
                self._respond(turn, self.audio and spoken, kept)
            case events.LlmToken(text=text):
                self._delta(turn, text)
            case events.ReplyDone(text=text, finish_reason=reason, tokens=tokens):
                if (response := self.responses.get(turn)) is not None:
                    response.text, response.finish_reason, response.tokens = text, reason, tokens
            case events.TurnDone():
                self.finish(turn)
            case events.Interrupted(heard=heard):
                self.finish(turn, cancelled=True, heard=heard)
            case events.Merged():  # the user went on: nothing of the turn remains
                self.withdraw(turn)
            case events.StageFailed(stage=stage, message=message):
                if stage == "stt" and (item_id := self.user_items.get(turn)) is not None:
                    self.transcription_failed(item_id, message)
                self.emit("error", error={"type": "server_error", "code": "pipeline_error",
                                          "message": message, "event_id": None})  # fmt: skip

    def _user_audio(self, turn: int, end_ms: int) -> None:
        item_id, self._speech_item = self._speech_item or new_id("item"), None
        self.user_items[turn] = item_id
        self.emit("input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=item_id)
        self.commit(item_id)

    def _transcribed(self, turn: int, text: str) -> None:
        if (item_id := self.user_items.get(turn)) is not None:
            self.transcribed(item_id, text)

    def _respond(self, turn: int, audio: bool, kept: bool) -> None:
        response = Response(new_id("resp"), new_id("item"), turn, audio, kept)
        self.responses = {t: r for t, r in self.responses.items() if not r.done}
        self.responses[turn] = response
        self.turns_of_items[response.item_id] = turn
        self.emit("response.created", response=response_json(response, "in_progress", []))

    def _open(self, response: Response) -> None:
        """The response's assistant message begins (its first words, or an empty reply)."""
        if response.message_index is not None:
            return
        response.message_index = len(response.output)
        item = assistant_item(response, "in_progress", "")
        response.output.append(item)
        self.emit("response.output_item.added", response_id=response.id,
                  output_index=response.message_index, item=item)  # fmt: skip
        if response.kept:
            self.add_item(item)
        self.emit("response.content_part.added", **_part_ids(response),
                  part=_part(response, ""))  # fmt: skip

    def _delta(self, turn: int, text: str) -> None:
        if (response := self.responses.get(turn)) is None or response.done:
            return
        self._open(response)
        kind = (
            "response.output_audio_transcript.delta"
            if response.audio
            else "response.output_text.delta"
        )
        self.emit(kind, **_part_ids(response), delta=text)

    def audio_delta(self, turn: int, data: str) -> None:
        """A piece of the reply's audio (base64, in the session's output format)."""
        response = self.responses.get(turn)
        if response is not None and not response.done:
            self._open(response)
            self.emit("response.output_audio.delta", **_part_ids(response), delta=data)

    def finish(self, turn: int, cancelled: bool = False, heard: str | None = None) -> None:
        """The reply of ``turn`` is over: its ``.done`` events and ``response.done``."""
        response = self.responses.get(turn)
        if response is None or response.done:
            return
        if not (cancelled or response.output):
            self._open(response)  # a reply with no words still has its (empty) message
        response.done = True
        if response.message_index is not None:
            self._close_message(response, cancelled, response.text if heard is None else heard)
        status = _status(response, cancelled)
        self.emit("response.done", response=response_json(response, status, response.output))

    def _close_message(self, response: Response, cancelled: bool, text: str) -> None:
        """The ``.done`` events of the response's message, holding ``text``."""
        ids = _part_ids(response)
        if response.audio:
            self.emit("response.output_audio.done", **ids)
            self.emit("response.output_audio_transcript.done", **ids, transcript=text)
        else:
            self.emit("response.output_text.done", **ids, text=text)
        self.emit("response.content_part.done", **ids, part=_part(response, text))
        item = assistant_item(response, "incomplete" if cancelled else "completed", text)
        self.emit("response.output_item.done", response_id=response.id,
                  output_index=ids["output_index"], item=item)  # fmt: skip
        response.output[ids["output_index"]] = item
        if response.kept:
            self.items[item["id"]] = item
            self.emit("conversation.item.done", previous_item_id=None, item=item)

    def withdraw(self, turn: int) -> None:
        """Turn ``turn`` was taken back: its response ends and its items are deleted."""
        self.finish(turn, cancelled=True, heard="")
        response = self.responses.get(turn)
        gone = [self.user_items.pop(turn, "")]
        self.sent.pop(gone[0], None)
        gone += [item["id"] for item in response.output] if response is not None else []
        for item_id in gone:
            if self.items.pop(item_id, None) is not None:
                self.emit("conversation.item.deleted", item_id=item_id)
        self.last_item = next(reversed(self.items), None)


def _status(response: Response, cancelled: bool) -> str:
    if cancelled or response.finish_reason == "cancelled":
        return "cancelled"
    if response.finish_reason == "error":
        return "failed"
    return "incomplete" if response.finish_reason == "length" else "completed"


def _details(response: Response, status: str) -> dict[str, Any] | None:
    if status == "cancelled":
        return {"type": status, "reason": response.cancel_reason}
    if status == "incomplete":
        return {"type": status, "reason": "max_output_tokens"}
    return None


def _part_ids(response: Response) -> dict[str, Any]:
    return {"response_id": response.id, "item_id": response.item_id,
            "output_index": response.message_index or 0, "content_index": 0}  # fmt: skip


def _part(response: Response, text: str) -> dict[str, Any]:
    if response.audio:
        return {"type": "audio", "transcript": text}
    return {"type": "text", "text": text}


def assistant_item(response: Response, status: str, text: str) -> dict[str, Any]:
    """The assistant message item of ``response``."""
    part = {"type": "output_audio", "transcript": text} if response.audio else {
        "type": "output_text", "text": text}  # fmt: skip
    return {"id": response.item_id, "type": "message", "object": "realtime.item",
            "status": status, "role": "assistant", "content": [part]}  # fmt: skip


def response_json(response: Response, status: str, output: list[Any]) -> dict[str, Any]:
    """A response object, with its usage once it is over (output tokens: input is not counted)."""
    usage = None
    if status != "in_progress":
        tokens = response.tokens
        details = {"text_tokens": tokens, "audio_tokens": 0}
        usage = {"output_tokens": tokens, "output_token_details": details}
    return {
        "id": response.id,
        "object": "realtime.response",
        "status": status,
        "status_details": _details(response, status),
        "output": output,
        "output_modalities": ["audio" if response.audio else "text"],
        "conversation_id": "auto" if response.kept else None,
        "usage": usage,
    }
