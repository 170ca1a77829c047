"""Prints a conversation as it happens: the transcript, the streaming reply, turn timings."""

from __future__ import annotations

import json

import click

from assistant.pipeline.events import Event, EventBus
from assistant.pipeline.turns import TurnReport


class ConsolePrinter:
    """Human-readable output on stdout; with ``as_json`` one JSON object per turn instead."""

    def __init__(self, bus: EventBus, as_json: bool = False, show_user: bool = True) -> None:
        self.as_json = as_json
        self.show_user = show_user
        self._replying: set[int] = set()
        if not as_json:
            bus.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.kind == "transcript" and self.show_user:
            click.echo(f"you: {event.data['text']}")
        elif event.kind == "llm_token":
            if event.turn_id not in self._replying:
                self._replying.add(event.turn_id)
                click.echo("assistant: ", nl=False)
            click.echo(event.data["text"], nl=False)
        elif event.kind == "error":
            click.echo(f"\n[{event.data['stage']} failed: {event.data['message']}]", err=True)

    def turn(self, report: TurnReport) -> None:
        """Close a turn: its timings (text mode) or its JSON object."""
        if self.as_json:
            click.echo(json.dumps(report.to_json(), ensure_ascii=False))
            return
        if report.turn_id in self._replying:
            click.echo()
        t = report.timings_ms()
        parts = [
            f"{label} {t[key]:.0f} ms" for key, label in _TIMING_LABELS if t.get(key) is not None
        ]
        if parts:
            click.echo(click.style(f"  [{' · '.join(parts)}]", dim=True))


_TIMING_LABELS = (
    ("voice_to_voice", "voice-to-voice"),
    ("endpoint", "endpoint"),
    ("stt", "stt"),
    ("llm_first_token", "llm first token"),
    ("tts_first_audio", "tts first audio"),
)
