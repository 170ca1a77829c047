"""The conversation's state as a user sees it, followed from the events of a turn."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from assistant.pipeline import events
from assistant.pipeline.events import Event, EventBus


class ConversationState(StrEnum):
    """Where the conversation stands; the value is the state's name on the wire and in JSON."""

    LISTENING = "listening"
    HEARING = "hearing"
    THINKING = "thinking"
    SPEAKING = "speaking"


# kind of event -> the state it puts the assistant in
STATE_AFTER: dict[type[Event], ConversationState] = {
    events.SpeechStarted: ConversationState.HEARING,
    events.Utterance: ConversationState.THINKING,
    events.Transcript: ConversationState.THINKING,  # typed words have no utterance
    events.ReplyAudio: ConversationState.SPEAKING,
    events.TurnDone: ConversationState.LISTENING,
    events.Interrupted: ConversationState.LISTENING,
    events.NoSpeech: ConversationState.LISTENING,
}


class StateTracker:
    """Calls ``on_change`` with each new state (listening, hearing, thinking, speaking)."""

    def __init__(self, bus: EventBus, on_change: Callable[[ConversationState], None]) -> None:
        self.state = ConversationState.LISTENING
        self._on_change = on_change
        bus.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        state = STATE_AFTER.get(type(event))
        if state is not None and state != self.state:
            self.state = state
            self._on_change(state)
