"""One conversation: the voice core every front door shares.

A ``Conversation`` owns the stages (built from the settings by ``pipeline/voice.py``), the
event bus, the turn ledger (turn ids and which turns are still being answered), the turn
recorder, the state tracker and the conversation context (``pipeline/context.py``: the
history, which the LLM stage reads and the doors edit through its methods). Whoever runs a
conversation chooses only where audio comes from (a file, a microphone, a socket; None for
typed words only), where the reply goes (a sink) and who listens (``Observers``):
`assistant chat`, `assistant ask`, ``/ws/voice``, the kiosk and the benches all come here, and
so will any other protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.config import Settings
from assistant.models.loaders import Models
from assistant.pipeline.context import ConversationContext
from assistant.pipeline.events import EventBus, Transcript
from assistant.pipeline.frames import (
    EndFrame,
    Frame,
    InterruptFrame,
    ReplyRequest,
    TranscriptFrame,
)
from assistant.pipeline.pipeline import Pipeline
from assistant.pipeline.processor import FrameProcessor
from assistant.pipeline.stages.llm import LlmStage
from assistant.pipeline.stages.sink import AudioSink
from assistant.pipeline.state import ConversationState, StateTracker
from assistant.pipeline.turns import TurnLedger, TurnRecorder, TurnReport
from assistant.pipeline.voice import Live, reply_stages, voice_stages
from assistant.tools.policy import ToolPolicy
from assistant.tools.session import SessionTools
from assistant.types import ChatMessage


@dataclass
class Observers:
    """Who listens to a conversation: every event, each completed turn, each state change."""

    bus: EventBus = field(default_factory=EventBus)
    on_turn: Callable[[TurnReport], object] | None = None
    on_state: Callable[[ConversationState], None] | None = None


class Conversation:
    """A voice (or typed) conversation from ``source`` to ``sink``, observed by ``observers``."""

    def __init__(
        self,
        settings: Settings,
        models: Models,
        source: FrameProcessor | None,
        sink: AudioSink,
        *,
        observers: Observers | None = None,
        live: Live | None = None,
        between: FrameProcessor | None = None,
        gate: FrameProcessor | None = None,
        use_tools: bool = True,
        tools: ToolPolicy | None = None,
        context: ConversationContext | None = None,
    ) -> None:
        """Assemble the conversation's stages; nothing runs before ``start`` or ``run``.

        ``live``: a microphone or a socket (see ``Live``); a failed reply then ends its turn
        and the conversation goes on, where otherwise the error ends it. ``between`` is a stage
        between recognition and reply (the kiosk's wake phrase), ``gate`` one in front of the
        VAD (the kiosk's wake word). ``use_tools`` False: no tools (``[tools]`` otherwise);
        a conversation that hears (``source``) also announces timers as they go off.
        ``tools``: the door's own tools instead of ``[tools]`` (a Realtime session's).
        ``context``: the history to go on from (None: a new, empty one).
        """
        obs = observers or Observers()
        self.context = context if context is not None else ConversationContext()
        self.bus = obs.bus
        self.ledger = TurnLedger(self.bus)
        self.recorder = TurnRecorder(self.bus, obs.on_turn)
        self.state = StateTracker(self.bus, obs.on_state or (lambda state: None))
        builtin = use_tools and tools is None and settings.tools.enabled
        self.tools = SessionTools(settings, models.llm) if builtin else None
        policy = self.tools.policy if self.tools is not None else tools
        self._hears = source is not None
        if source is None:
            stages = reply_stages(
                settings, models, sink, live is not None, tools=policy, context=self.context
            )
        else:
            stages = voice_stages(
                settings, models, source, sink, self.ledger, live, between, gate, policy,
                self.context,
            )  # fmt: skip
        self.llm = next(stage for stage in stages if isinstance(stage, LlmStage))
        self.pipeline = Pipeline(stages, self.bus)

    @property
    def history(self) -> list[ChatMessage]:
        """The conversation so far, as the model will read it (a copy)."""
        return self.context.messages

    async def run(self, frames: list[Frame] | None = None) -> None:
        """Run until the input ends (``frames``, if any, go in first) and every reply is out."""
        await self.start()
        if frames is not None:
            for frame in [*frames, EndFrame()]:
                await self.pipeline.queue_frame(frame)
        await self.wait()

    async def start(self) -> None:
        """Start listening; ``wait`` for the end."""
        if self.tools is not None:
            await self.tools.start()
        try:
            await self.pipeline.start()
        except BaseException:
            await self._stop_tools()
            raise
        if self.tools is not None and self._hears:
            self.tools.watch(self.announce)

    async def wait(self) -> None:
        """Wait for the end; the first error of a stage is raised here."""
        try:
            await self.pipeline.wait()
        finally:
            await self._stop_tools()

    async def announce(self, text: str) -> int:
        """Say ``text`` as a turn of its own (a timer going off); the history does not keep it."""
        turn = self.ledger.answer(self.ledger.new())
        request = ReplyRequest(say=text, remember=False)
        frame = TranscriptFrame(
            turn_id=turn, text="", speech_end_wall=time.monotonic(), request=request
        )
        await self.pipeline.queue_frame(frame)
        return turn

    async def _stop_tools(self) -> None:
        if self.tools is not None:
            await self.tools.stop()

    async def finish(self) -> None:
        """The input is over: wait until every reply is out, then for the end."""
        await self.pipeline.queue_frame(EndFrame())
        await self.wait()

    async def cancel(self, reason: str = "") -> None:
        """Stop now, whatever is being said or heard."""
        await self.pipeline.cancel(reason)
        await self._stop_tools()

    async def interrupt(self) -> None:
        """Stop the reply being given (a stop button)."""
        if self.ledger.latest:
            await self.pipeline.queue_frame(InterruptFrame(turn_id=self.ledger.latest))

    def add_user(self, text: str) -> None:
        """Words for the next reply, without asking for one (``respond`` does)."""
        self.context.add_user(text)

    async def respond(self, request: ReplyRequest | None = None) -> int:
        """A reply to the conversation as it stands (the words added since the last reply)."""
        turn = self.ledger.answer(self.ledger.new())
        frame = TranscriptFrame(
            turn_id=turn,
            text="",
            speech_end_wall=time.monotonic(),
            request=request or ReplyRequest(),
        )
        await self.pipeline.queue_frame(frame)
        return turn

    async def say(self, text: str) -> int:
        """Typed words: a turn of the conversation (a reply being given stops first)."""
        if self.state.state in (ConversationState.THINKING, ConversationState.SPEAKING):
            await self.interrupt()
        turn = self.ledger.answer(self.ledger.new())
        self.bus.publish(Transcript(turn_id=turn, text=text))
        await self.pipeline.queue_frame(
            TranscriptFrame(turn_id=turn, text=text, speech_end_wall=time.monotonic())
        )
        return turn
