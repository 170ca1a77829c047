"""The conversation's state as a user sees it, followed from the events of a turn."""

from __future__ import annotations

from collections.abc import Callable

from assistant.pipeline import events
from assistant.pipeline.events import Event, EventBus

# kind of event -> the state it puts the assistant in
STATE_AFTER: dict[type[Event], str] = {
    events.SpeechStarted: "hearing",
    events.Utterance: "thinking",
    events.Transcript: "thinking",  # typed words have no utterance
    events.ReplyAudio: "speaking",
    events.TurnDone: "listening",
    events.Interrupted: "listening",
    events.NoSpeech: "listening",
}


class StateTracker:
    """Calls ``on_change`` with listening / hearing / thinking / speaking when it changes."""

    def __init__(self, bus: EventBus, on_change: Callable[[str], None]) -> None:
        self.state = "listening"
        self._on_change = on_change
        bus.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        state = STATE_AFTER.get(type(event))
        if state is not None and state != self.state:
            self.state = state
            self._on_change(state)
