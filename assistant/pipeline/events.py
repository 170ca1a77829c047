"""The event bus: stages report what they did; the CLI, timings and the server listen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The kinds of event, in the order a turn produces them.
EVENT_KINDS = (
    "speech_started",  # start (stream s)
    "partial_transcript",  # text: what the user said so far, heard at a pause
    "utterance",  # start, end (stream s), speech_end_wall (monotonic s)
    "no_speech",  # stt_ms: an utterance held no words; no turn follows
    "end_of_turn",  # turn, probability (turn id 0): the end-of-turn model's answer at a pause
    "retracted",  # turn (turn id 0): a tentative turn withdrawn, the user went on speaking
    "confirmed",  # the turn's end was decided (end-of-turn model): its reply may be heard
    "transcript",  # text, stt_ms
    "llm_started",  # the model was asked for a reply
    "llm_token",  # text
    "clause",  # text
    "tts_audio",  # samples, sample_rate: first piece of audio for a clause
    "reply_audio",  # samples, sample_rate: reply audio reached the sink
    "reply_done",  # text, finish_reason, tokens
    "turn_done",  # emitted by the sink when everything of a turn has been played or written
    "barge_in",  # onset_wall, detected_wall: the user spoke over turn N; it is being cancelled
    "interrupted",  # heard, silent_wall: turn N stopped; ``heard`` is the reply text played
    "merged",  # turn N was taken back: the user went on, and its words open the next turn
    "audio_status",  # device, message, level (warning | error), reopened: device news
    "error",  # stage, message
)


@dataclass(frozen=True)
class Event:
    """Something that happened, stamped with the monotonic clock."""

    kind: str
    turn_id: int
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.monotonic)


Listener = Callable[[Event], None]


class EventBus:
    """Fan-out of events to listeners (called inline, must be quick) and to async queues."""

    def __init__(self, queue_size: int = 1024) -> None:
        self._listeners: list[Listener] = []
        self._queues: list[asyncio.Queue[Event]] = []
        self._queue_size = queue_size
        self._held: dict[int, list[Event]] = {}  # tentative turn -> its events, in order

    def hold(self, turn_id: int) -> None:
        """Keep the events of a tentative turn back until ``release`` (or ``drop``)."""
        self._held.setdefault(turn_id, [])

    def release(self, turn_id: int) -> None:
        """The turn is real: deliver what was held, with its original times, then go on live."""
        for event in self._held.pop(turn_id, []):
            self._deliver(event)

    def drop(self, turn_id: int) -> None:
        """The turn never happened: forget its events."""
        self._held.pop(turn_id, None)

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` for every event from now on."""
        self._listeners.append(listener)

    def subscribe(self) -> asyncio.Queue[Event]:
        """A queue that receives every event; when a reader falls behind its oldest are dropped."""
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._queues.append(queue)
        return queue

    def publish(self, kind: str, turn_id: int = 0, **data: Any) -> Event:
        """Send an event to everyone listening."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        event = Event(kind, turn_id, data)
        if turn_id in self._held:
            self._held[turn_id].append(event)
        else:
            self._deliver(event)
        return event

    def _deliver(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)
