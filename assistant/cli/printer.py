"""Prints a conversation as it happens: the transcript, the streaming reply, turn timings.

Live, it also shows the assistant's state (listening, hearing, thinking, speaking) as dim
marker lines; a marker that comes while a line is being printed waits for the line to end.
While the user speaks, the words confirmed so far grow on one dim "(hearing)" line (only
new words are added, so nothing is rewritten); a partial made at a pause, with no confirmed
words, is one line of its own.
In JSON mode each turn is one object per line, and live each state change is one too
(``{"state": "speaking"}``). Tool calls and their results are one object each, as they
happen (``{"event": "tool_call", ...}``, ``{"event": "tool_result", ...}``), and so is a
turn's failure (``{"event": "error", "turn", "stage", "message"}``: a remote server down, say);
``failures`` counts them.
"""

from __future__ import annotations

import json

import click

from assistant.pipeline import events
from assistant.pipeline.conversation import Observers
from assistant.pipeline.events import Event
from assistant.pipeline.turns import TurnReport


class ConsolePrinter:
    """Human-readable output on stdout; with ``as_json`` one JSON object per turn instead."""

    def __init__(
        self,
        observers: Observers,
        as_json: bool = False,
        show_user: bool = True,
        live: bool = False,
    ) -> None:
        """Print what ``observers`` will see (its turns, and live its states too)."""
        self.as_json = as_json
        self.show_user = show_user
        self.live = live
        self._line_open = False  # a reply or what is heard is being printed on the line
        self._heard: str | None = None  # confirmed words on the open "(hearing)" line
        self._deferred: str | None = None
        self._replying: set[int] = set()
        self.failures = 0  # turns (or stages) that failed
        if live:
            observers.on_state = self._print_state_json if as_json else self._set_state
        observers.on_turn = self.turn
        observers.bus.listen(self._on_json_event if as_json else self._on_event)

    @staticmethod
    def _print_state_json(state: str) -> None:
        click.echo(json.dumps({"state": state}))

    def _on_json_event(self, event: Event) -> None:
        """JSON mode: device news on stderr (states, tools and turns go to stdout)."""
        if isinstance(event, events.AudioStatus):
            click.echo(f"[{event.message}]", err=True)
        elif isinstance(event, events.StageFailed):
            self.failures += 1
            line = {"event": event.kind, "turn": event.turn_id, **event.fields()}
            click.echo(json.dumps(line, ensure_ascii=False))
        elif isinstance(event, events.ToolCalled | events.ToolResult):
            line = {"event": event.kind, "turn": event.turn_id, **event.fields()}
            click.echo(json.dumps(line, ensure_ascii=False))

    def _on_event(self, event: Event) -> None:
        match event:
            case events.Transcript(text=text) if self.show_user:
                self._line(f"you: {text}")
            case events.PartialTranscript(text=text, stable=stable) if self.live:
                self._hearing(text, stable)
            case events.LlmToken(text=text):
                self._token(event.turn_id, text)
            case events.ReplyDone():
                self._end_line()
            case events.ToolCalled(name=name, arguments=arguments):
                self._line(click.style(f"  [tool {name} {json.dumps(arguments)}]", dim=True))
            case events.ToolResult(result=result, duration_ms=ms):
                self._line(click.style(f"  [tool result ({ms:.0f} ms): {result}]", dim=True))
            case events.Interrupted(heard=heard):
                self._line(
                    click.style(f"  [interrupted; you heard: {heard or 'nothing yet'}]", dim=True)
                )
            case events.AudioStatus(message=message):
                self._end_line()
                click.echo(f"[{message}]", err=True)
            case events.StageFailed(stage=stage, message=message):
                self.failures += 1
                self._end_line()
                click.echo(f"[{stage} failed: {message}]", err=True)

    def _set_state(self, state: str) -> None:
        if self._line_open:
            self._deferred = state
        else:
            click.echo(click.style(f"[{state}]", dim=True))

    def _hearing(self, text: str, stable: str) -> None:
        """Add newly confirmed words to the "(hearing)" line, or print a pause's partial."""
        if not stable:  # made at a pause: the final comes next, once the line is done
            if self._heard is None:
                self._line(click.style(f"  (hearing) {text}", dim=True))
            return
        if self._heard is None or not stable.startswith(self._heard):
            self._end_line()  # a first word, or a hypothesis begun again: a new line
            click.echo(click.style("  (hearing)", dim=True), nl=False)
            self._heard, self._line_open = "", True
        click.echo(click.style(_spaced(stable[len(self._heard) :]), dim=True), nl=False)
        self._heard = stable

    def _token(self, turn_id: int, text: str) -> None:
        if self._heard is not None:
            self._end_line()  # the reply is not written on the line of what is heard
        if turn_id not in self._replying:
            self._replying.add(turn_id)
            self._end_line()
            click.echo("assistant: ", nl=False)
            self._line_open = True
        click.echo(text, nl=False)

    def _line(self, text: str) -> None:
        self._end_line()
        click.echo(text)

    def _end_line(self) -> None:
        if self._line_open:
            click.echo()
            self._line_open, self._heard = False, None
        if self._deferred is not None:
            state, self._deferred = self._deferred, None
            click.echo(click.style(f"[{state}]", dim=True))

    def turn(self, report: TurnReport) -> None:
        """Close a turn: its timings (text mode) or its JSON object."""
        if self.as_json:
            click.echo(json.dumps(report.to_json(), ensure_ascii=False))
            return
        self._end_line()
        t = report.timings_ms()
        parts = [
            f"{label} {t[key]:.0f} ms" for key, label in _TIMING_LABELS if t.get(key) is not None
        ]
        if parts:
            click.echo(click.style(f"  [{' · '.join(parts)}]", dim=True))


def _spaced(words: str) -> str:
    """New words for the "(hearing)" line, parted from the label or the words before them."""
    return words if not words or words[0].isspace() or not words[0].isalnum() else f" {words}"


_TIMING_LABELS = (
    ("voice_to_voice", "voice-to-voice"),
    ("endpoint", "endpoint"),
    ("stt", "stt"),
    ("llm_first_token", "llm first token"),
    ("tts_first_audio", "tts first audio"),
    ("tools", "tools"),
    ("barge_in_stop", "barge-in stop"),
)
