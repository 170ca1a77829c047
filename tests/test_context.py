"""The conversation context, what was heard of a cut reply reaching it, and the state enum."""

import asyncio
import json

from assistant.pipeline.context import ConversationContext
from assistant.pipeline.events import EventBus, Interrupted, SpeechStarted, TurnDone
from assistant.pipeline.frames import EndFrame, Frame, HeardFrame, InterruptFrame
from assistant.pipeline.harness import Recorder
from assistant.pipeline.pipeline import Pipeline
from assistant.pipeline.stages.heard import HeardStage
from assistant.pipeline.stages.sink import AudioSink
from assistant.pipeline.state import ConversationState, StateTracker
from assistant.types import ChatMessage


def test_what_was_heard_reaches_the_context_as_a_frame_before_observers_hear_of_it() -> None:
    class CutSink(AudioSink):
        """A sink whose listener heard the first two words of the reply it was playing."""

        async def on_interrupt(self, turn_id: int) -> None:
            await self.report_heard(turn_id, "Paris is", 0.0)

    context = ConversationContext()
    context.begin(1)
    context.remember(1, ChatMessage("user", "The capital?"), [], "Paris is the capital.")
    seen: list[str] = []  # the context's last message when the event arrives

    def observe(event: object) -> None:
        if isinstance(event, Interrupted):
            seen.append(context.messages[-1].content)

    async def scenario() -> list[Frame]:
        bus, recorder = EventBus(), Recorder()
        bus.listen(observe)  # an observer: no stage listens to the bus for data
        pipeline = Pipeline([CutSink(), HeardStage(context), recorder], bus)
        await pipeline.run([InterruptFrame(turn_id=1)])
        return recorder.frames

    out = asyncio.run(scenario())
    assert [type(f) for f in out] == [HeardFrame, InterruptFrame, EndFrame]
    assert context.messages[-1] == ChatMessage("assistant", "Paris is")
    assert seen == ["Paris is"]


def test_a_reply_nobody_heard_leaves_the_question_open_for_the_next_words() -> None:
    context = ConversationContext()
    context.begin(1)
    context.remember(1, ChatMessage("user", "Name a colour."), [], "Blue.")
    context.interrupted(2, "")  # another turn's cut changes nothing here
    assert [m.role for m in context.messages] == ["user", "assistant"]
    context.interrupted(1, "")
    assert context.messages == [ChatMessage("user", "Name a colour.")]
    assert context.question("And a fruit.").content == "Name a colour. And a fruit."
    context.begin(2)
    context.add_user("Withdrawn words.")
    context.withdraw(2)
    assert context.messages == [ChatMessage("user", "Name a colour.")]
    context.replace([ChatMessage("user", "Hi."), ChatMessage("assistant", "Hello.")])
    prompt = context.prompt("Be brief.", context.question("Bye."))
    assert [m.role for m in prompt] == ["system", "user", "assistant", "user"]


def test_the_conversation_state_is_an_enum_with_the_wire_strings() -> None:
    bus, changes = EventBus(), []
    tracker = StateTracker(bus, changes.append)
    bus.publish(SpeechStarted(turn_id=1, start=0.0))
    bus.publish(TurnDone(turn_id=1))
    assert changes == [ConversationState.HEARING, ConversationState.LISTENING]
    assert tracker.state == "listening" and json.dumps({"state": changes[0]}) == (
        '{"state": "hearing"}'
    )
    assert [s.value for s in ConversationState] == ["listening", "hearing", "thinking", "speaking"]
