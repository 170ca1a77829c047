"""Turns: their ids and lifecycle (the ledger), and reports of what was heard, said, and when."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.pipeline import events
from assistant.pipeline.events import Event, EventBus


@dataclass
class TurnReport:
    """One turn: the transcript, the reply, and the monotonic times of its milestones."""

    turn_id: int
    transcript: str = ""
    language: str = ""  # what recognition heard ("" = typed)
    reply: str = ""
    finish_reason: str = ""
    tokens: int = 0
    speech_start: float | None = None  # stream seconds
    speech_end: float | None = None
    stt_ms: float | None = None
    reply_samples: int = 0
    reply_rate: int = 0
    interrupted: bool = False  # the user spoke over the reply (barge-in)
    heard: str | None = None  # after a barge-in: the part of the reply that was played
    marks: dict[str, float] = field(default_factory=dict)  # milestone -> monotonic seconds
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # name, arguments, result
    tools_ms: float | None = None  # time spent in tools, within llm_total

    def timings_ms(self) -> dict[str, float | None]:
        """Per-stage and end-to-end latencies in milliseconds (None where a step did not happen)."""
        m = self.marks

        def span(a: str, b: str) -> float | None:
            return round((m[b] - m[a]) * 1000, 1) if a in m and b in m else None

        return {
            # with the end-of-turn model the turn ends when confirmed, after its utterance began
            "endpoint": span("speech_end", "confirmed") or span("speech_end", "utterance"),
            "stt": None if self.stt_ms is None else round(self.stt_ms, 1),
            "llm_first_token": span("llm_started", "first_token"),
            "llm_first_clause": span("llm_started", "first_clause"),
            "llm_total": span("llm_started", "reply_done"),
            "tts_first_audio": span("first_clause", "first_tts"),
            "voice_to_voice": span("speech_end", "first_audio"),
            "barge_in_stop": span("barge_in_onset", "silent"),
            "tools": None if self.tools_ms is None else round(self.tools_ms, 1),
        }

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        audio_s = self.reply_samples / self.reply_rate if self.reply_rate else 0.0
        return {
            "turn": self.turn_id,
            "transcript": self.transcript,
            **({"language": self.language} if self.language else {}),
            "reply": self.reply,
            "finish_reason": self.finish_reason,
            "tokens": self.tokens,
            "speech": {"start_s": self.speech_start, "end_s": self.speech_end},
            "reply_audio_s": round(audio_s, 3),
            "interrupted": self.interrupted,
            "heard": self.heard,
            "timings_ms": self.timings_ms(),
            **({"tool_calls": self.tool_calls} if self.tool_calls else {}),
        }


# kind of event -> milestone name; only the first occurrence in a turn counts
_MILESTONES: dict[type[Event], str] = {
    events.Utterance: "utterance",
    events.Confirmed: "confirmed",
    events.Transcript: "transcript",
    events.LlmStarted: "llm_started",
    events.LlmToken: "first_token",
    events.Clause: "first_clause",
    events.TtsAudio: "first_tts",
    events.ReplyAudio: "first_audio",
    events.ToolCalled: "tool_call",
    events.ToolResult: "tool_result",
    events.ReplyDone: "reply_done",
    events.TurnDone: "turn_done",
    events.Interrupted: "interrupted",
}
_ENDS = (events.TurnDone, events.Interrupted)


class TurnRecorder:
    """Listens to a bus and hands a TurnReport to ``on_turn`` as each turn completes."""

    def __init__(
        self, bus: EventBus, on_turn: Callable[[TurnReport], object] | None = None
    ) -> None:
        self.turns: dict[int, TurnReport] = {}
        self.completed: list[TurnReport] = []
        self._on_turn = on_turn
        bus.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, events.BargeIn):
            report = self.turns.setdefault(event.turn_id, TurnReport(event.turn_id))
            report.marks["barge_in_onset"] = event.onset_wall
            return
        milestone = _MILESTONES.get(type(event))
        if event.turn_id == 0 or milestone is None:
            return
        report = self.turns.setdefault(event.turn_id, TurnReport(event.turn_id))
        report.marks.setdefault(milestone, event.time)
        self._absorb(report, event)
        if isinstance(event, _ENDS) and all(r.turn_id != report.turn_id for r in self.completed):
            self.completed.append(report)
            if self._on_turn is not None:
                self._on_turn(report)

    @staticmethod
    def _absorb(report: TurnReport, event: Event) -> None:
        if isinstance(event, events.Utterance):
            report.speech_start, report.speech_end = event.start, event.end
            report.marks["speech_end"] = event.speech_end_wall
        elif isinstance(event, events.Transcript):
            report.transcript, report.stt_ms = event.text, event.stt_ms
            report.language = event.language
        elif isinstance(event, events.ReplyDone):
            report.reply, report.finish_reason = event.text, event.finish_reason
            report.tokens = event.tokens
        elif isinstance(event, events.Interrupted):
            report.interrupted, report.heard = True, event.heard
            report.marks["silent"] = event.silent_wall
        elif isinstance(event, events.ToolCalled):
            call: dict[str, Any] = {"id": event.call_id, "name": event.name}
            report.tool_calls.append({**call, "arguments": event.arguments, "by": event.by})
        elif isinstance(event, events.ToolResult):
            report.tools_ms = (report.tools_ms or 0.0) + event.duration_ms
            for call in report.tool_calls:
                if call["id"] == event.call_id:
                    call.update(result=event.result, ok=event.ok)
        elif isinstance(event, events.ReplyAudio):
            report.reply_samples += event.samples
            report.reply_rate = event.sample_rate


class TurnLedger:
    """Turn ids, and the turns being answered: a reply not yet played to its end.

    Speech over a turn being answered is a barge-in. A turn is answered from the moment its
    reply may be heard (a spoken turn once its end is decided, a typed one at once) until it
    has been played, was interrupted, or held no words.
    """

    def __init__(self, bus: EventBus | None = None) -> None:
        self._ids = itertools.count(1)
        self.latest = 0  # the newest turn id
        self.answering: set[int] = set()
        if bus is not None:
            self.follow(bus)

    def follow(self, bus: EventBus) -> None:
        """Learn from ``bus`` when turns have been played, interrupted or found empty."""
        bus.listen(self._on_event)

    def new(self) -> int:
        """The next turn id."""
        self.latest = next(self._ids)
        return self.latest

    def answer(self, turn: int) -> int:
        """``turn`` is being answered now; returns it."""
        self.answering.add(turn)
        return turn

    def settle(self, turn: int) -> None:
        """``turn`` is no longer being answered (withdrawn, merged)."""
        self.answering.discard(turn)

    def interrupt_all(self) -> int:
        """Every turn being answered is over; returns the newest of them (one must exist)."""
        turn = max(self.answering)
        self.answering.clear()
        return turn

    def _on_event(self, event: Event) -> None:
        if isinstance(event, (events.TurnDone, events.NoSpeech, events.Interrupted)):
            self.answering.discard(event.turn_id)
