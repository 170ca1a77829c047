"""The event bus: stages report what they did; the CLI, timings and the server listen."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

# One class per kind of event, in the order a turn produces them. Consumers dispatch on the
# class; ``kind`` is the name the event goes by outside the process (logs, JSON).


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened in turn ``turn_id`` (0: none), stamped with the monotonic clock."""

    kind: ClassVar[str] = "event"
    turn_id: int = 0
    time: float = field(default_factory=time.monotonic)

    def fields(self) -> dict[str, Any]:
        """What the event says, without its turn and time."""
        skip = ("turn_id", "time")
        own = dataclasses.fields(self)
        return {f.name: getattr(self, f.name) for f in own if f.name not in skip}


@dataclass(frozen=True, kw_only=True)
class SpeechStarted(Event):
    """The user started speaking at ``start`` (stream seconds)."""

    kind: ClassVar[str] = "speech_started"
    start: float


@dataclass(frozen=True, kw_only=True)
class PartialTranscript(Event):
    """What the user said so far, heard while speaking or at a pause."""

    kind: ClassVar[str] = "partial_transcript"
    text: str  # the whole hypothesis: the confirmed words and a tail that may still change
    stable: str = ""  # the confirmed words: they only grow within one utterance...
    start: float = 0.0  # ...the one that began here (stream seconds)...
    restarted: bool = False  # ...unless the hypothesis was begun again


@dataclass(frozen=True, kw_only=True)
class Utterance(Event):
    """An utterance ended: stream seconds, and the monotonic time its speech ended."""

    kind: ClassVar[str] = "utterance"
    start: float
    end: float
    speech_end_wall: float
    forced: bool = False  # cut at vad.max_utterance_s


@dataclass(frozen=True, kw_only=True)
class NoSpeech(Event):
    """The utterance held no words (or, with ``reason``, was ignored): no turn follows."""

    kind: ClassVar[str] = "no_speech"
    stt_ms: float | None = None
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class EndOfTurn(Event):
    """The end-of-turn model's answer at a pause of tentative turn ``turn``."""

    kind: ClassVar[str] = "end_of_turn"
    turn: int
    probability: float
    text: float | None = None  # the chat model's P(end of message), when it gave an opinion
    fused: float | None = None  # the combined probability the decision used, if any


@dataclass(frozen=True, kw_only=True)
class Retracted(Event):
    """Tentative turn ``turn`` was withdrawn: the user went on speaking."""

    kind: ClassVar[str] = "retracted"
    turn: int


@dataclass(frozen=True, kw_only=True)
class Confirmed(Event):
    """The turn's end was decided (end-of-turn model): its reply may be heard."""

    kind: ClassVar[str] = "confirmed"
    by_limit: bool = False  # ended by the long limit (vad.turn_long_ms), whatever was decided


@dataclass(frozen=True, kw_only=True)
class Transcript(Event):
    """The words of the turn (``stt_ms`` None: typed)."""

    kind: ClassVar[str] = "transcript"
    text: str
    stt_ms: float | None = None
    speculative: bool = False  # recognised at a pause, before the turn ended
    language: str = ""  # the language recognition heard ("" = typed, or not known)


@dataclass(frozen=True, kw_only=True)
class LlmStarted(Event):
    """The model was asked for a reply (``spoken``: to the voice, ``kept``: to the history)."""

    kind: ClassVar[str] = "llm_started"
    spoken: bool = True
    kept: bool = True


@dataclass(frozen=True, kw_only=True)
class LlmToken(Event):
    """A piece of the reply's text."""

    kind: ClassVar[str] = "llm_token"
    text: str


@dataclass(frozen=True, kw_only=True)
class ToolCalled(Event):
    """A tool is being called (``by``: "precheck", "model", or "client": the client runs it)."""

    kind: ClassVar[str] = "tool_call"
    call_id: str
    name: str
    arguments: dict[str, Any]
    by: str


@dataclass(frozen=True, kw_only=True)
class ToolResult(Event):
    """A tool's result (``ok`` False: the error the model reads), and how long it ran."""

    kind: ClassVar[str] = "tool_result"
    call_id: str
    name: str
    result: str
    ok: bool
    duration_ms: float


@dataclass(frozen=True, kw_only=True)
class Clause(Event):
    """A clause of the reply, handed to speech synthesis."""

    kind: ClassVar[str] = "clause"
    text: str


@dataclass(frozen=True, kw_only=True)
class TtsAudio(Event):
    """The first piece of audio synthesized for a clause."""

    kind: ClassVar[str] = "tts_audio"
    samples: int
    sample_rate: int


@dataclass(frozen=True, kw_only=True)
class ReplyAudio(Event):
    """Reply audio reached the sink."""

    kind: ClassVar[str] = "reply_audio"
    samples: int
    sample_rate: int


@dataclass(frozen=True, kw_only=True)
class ReplyDone(Event):
    """The reply's whole text, why it ended, and its tokens."""

    kind: ClassVar[str] = "reply_done"
    text: str
    finish_reason: str
    tokens: int


@dataclass(frozen=True, kw_only=True)
class TurnDone(Event):
    """Everything of the turn has been played or written."""

    kind: ClassVar[str] = "turn_done"


@dataclass(frozen=True, kw_only=True)
class BargeIn(Event):
    """The user spoke over the turn's reply; it is being cancelled."""

    kind: ClassVar[str] = "barge_in"
    onset_wall: float
    detected_wall: float


@dataclass(frozen=True, kw_only=True)
class Interrupted(Event):
    """The turn stopped; ``heard`` is the part of the reply that was played."""

    kind: ClassVar[str] = "interrupted"
    heard: str
    silent_wall: float


@dataclass(frozen=True, kw_only=True)
class Merged(Event):
    """The turn was taken back: the user went on, and its words open the next turn."""

    kind: ClassVar[str] = "merged"


@dataclass(frozen=True, kw_only=True)
class WakeWordHeard(Event):
    """The wake word ``name`` was heard: the next turn may open."""

    kind: ClassVar[str] = "wake_word"
    name: str


@dataclass(frozen=True, kw_only=True)
class AudioStatus(Event):
    """Device news: ``level`` info, warning or error; ``reopened`` when a device opened again."""

    kind: ClassVar[str] = "audio_status"
    device: str
    message: str
    level: str
    reopened: bool = False


@dataclass(frozen=True, kw_only=True)
class StageFailed(Event):
    """A stage failed with ``message``."""

    kind: ClassVar[str] = "error"
    stage: str
    message: str


Listener = Callable[[Event], None]
E = TypeVar("E", bound=Event)


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

    def publish(self, event: E) -> E:
        """Send an event to everyone listening (or hold it back with its turn)."""
        if event.turn_id in self._held:
            self._held[event.turn_id].append(event)
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
