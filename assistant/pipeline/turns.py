"""Turn reports: what was heard, what was said, and how long each step took, from the events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.pipeline.events import Event, EventBus


@dataclass
class TurnReport:
    """One turn: the transcript, the reply, and the monotonic times of its milestones."""

    turn_id: int
    transcript: str = ""
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
        }

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        audio_s = self.reply_samples / self.reply_rate if self.reply_rate else 0.0
        return {
            "turn": self.turn_id,
            "transcript": self.transcript,
            "reply": self.reply,
            "finish_reason": self.finish_reason,
            "tokens": self.tokens,
            "speech": {"start_s": self.speech_start, "end_s": self.speech_end},
            "reply_audio_s": round(audio_s, 3),
            "interrupted": self.interrupted,
            "heard": self.heard,
            "timings_ms": self.timings_ms(),
        }


# event kind -> milestone name; only the first occurrence in a turn counts
_MILESTONES = {
    "utterance": "utterance",
    "confirmed": "confirmed",
    "transcript": "transcript",
    "llm_started": "llm_started",
    "llm_token": "first_token",
    "clause": "first_clause",
    "tts_audio": "first_tts",
    "reply_audio": "first_audio",
    "reply_done": "reply_done",
    "turn_done": "turn_done",
    "interrupted": "interrupted",
}
_ENDS = ("turn_done", "interrupted")


class TurnRecorder:
    """Listens to a bus and hands a TurnReport to ``on_turn`` as each turn completes."""

    def __init__(self, bus: EventBus, on_turn: Callable[[TurnReport], None] | None = None) -> None:
        self.turns: dict[int, TurnReport] = {}
        self.completed: list[TurnReport] = []
        self._on_turn = on_turn
        bus.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.kind == "barge_in":
            self.turns.setdefault(event.turn_id, TurnReport(event.turn_id)).marks[
                "barge_in_onset"
            ] = event.data["onset_wall"]
            return
        if event.turn_id == 0 or event.kind not in _MILESTONES:
            return
        report = self.turns.setdefault(event.turn_id, TurnReport(event.turn_id))
        report.marks.setdefault(_MILESTONES[event.kind], event.time)
        self._absorb(report, event)
        if event.kind in _ENDS and all(r.turn_id != report.turn_id for r in self.completed):
            self.completed.append(report)
            if self._on_turn is not None:
                self._on_turn(report)

    @staticmethod
    def _absorb(report: TurnReport, event: Event) -> None:
        data = event.data
        if event.kind == "utterance":
            report.speech_start, report.speech_end = data["start"], data["end"]
            report.marks["speech_end"] = data["speech_end_wall"]
        elif event.kind == "transcript":
            report.transcript, report.stt_ms = data["text"], data["stt_ms"]
        elif event.kind == "reply_done":
            report.reply, report.finish_reason = data["text"], data["finish_reason"]
            report.tokens = data["tokens"]
        elif event.kind == "interrupted":
            report.interrupted, report.heard = True, data["heard"]
            report.marks["silent"] = data["silent_wall"]
        elif event.kind == "reply_audio":
            report.reply_samples += data["samples"]
            report.reply_rate = data["sample_rate"]
