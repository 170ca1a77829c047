"""LLM stage: the user's words in, the streamed reply out; keeps the conversation history.

After a barge-in the sink reports what the user actually heard (``interrupted`` event); the
history then keeps only that part of the reply, or no reply at all when nothing was heard, in
which case the user's next words are joined to the question they cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import Generator
from dataclasses import dataclass, field

from assistant.concurrency import StreamResult, call_in_thread, iterate_in_thread
from assistant.errors import AssistantError
from assistant.llm.sampling import SamplerParams
from assistant.models.interfaces import ChatMessage, LanguageModel
from assistant.pipeline.events import (
    Event,
    EventBus,
    Interrupted,
    LlmStarted,
    LlmToken,
    ReplyDone,
    StageFailed,
)
from assistant.pipeline.frames import (
    DataFrame,
    ReplyEndFrame,
    SpeculativeTranscriptFrame,
    TextFrame,
    TranscriptFrame,
)
from assistant.pipeline.priority import SpeechFirst
from assistant.pipeline.processor import ErrorHandler
from assistant.pipeline.stages.model_stage import ModelStage


@dataclass
class ReplyOptions:
    """How replies are generated."""

    system_prompt: str
    params: SamplerParams = field(default_factory=SamplerParams)
    max_tokens: int = 128
    stop: list[str] = field(default_factory=list)


class LlmStage(ModelStage):
    """Streams a reply per transcript; the history is trimmed to the model's context window."""

    def __init__(
        self,
        model: LanguageModel,
        options: ReplyOptions,
        priority: SpeechFirst | None = None,
        survive_errors: bool = False,
    ) -> None:
        super().__init__("llm")
        # A conversation that goes on (live, over a socket, a kiosk) ends a turn whose reply
        # failed and keeps listening; a one-shot run fails with the error instead.
        self.survive_errors = survive_errors
        self.model = model
        self.options = options
        self.priority = priority
        self.history: list[ChatMessage] = []
        self._remembered_turn = 0  # the turn whose reply ends the history
        self._before: dict[int, list[ChatMessage]] = {}  # turn -> the history before it

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; meanwhile process the system prompt, so the first reply is faster."""
        await super().start(bus, on_error)
        bus.listen(self._on_event)
        if self.options.system_prompt:
            self._executor.submit(
                self.model.prefill, [ChatMessage("system", self.options.system_prompt)]
            )

    async def process_frame(self, frame: DataFrame) -> None:
        """Answer transcripts; forward everything else."""
        if isinstance(frame, TranscriptFrame):
            await self._reply(frame)
        elif isinstance(frame, SpeculativeTranscriptFrame):
            # Read the likely prompt now; the reply, if it comes, reuses the cache.
            self._executor.submit(self._prefill, frame.text)
        else:
            await self.push_frame(frame)

    async def on_retract(self, turn_id: int) -> None:
        """A withdrawn turn stops, and leaves the history as it was before it."""
        await super().on_retract(turn_id)
        if (before := self._before.pop(turn_id, None)) is not None:
            self.history = before

    async def _reply(self, frame: TranscriptFrame) -> None:
        try:
            await self._answer(frame)
        except AssistantError as exc:  # the model failed (a remote gone, a picture too big...)
            if not self.survive_errors:
                raise
            turn = frame.turn_id
            self.bus.publish(StageFailed(turn_id=turn, stage=self.name, message=str(exc)))
            self.bus.publish(ReplyDone(turn_id=turn, text="", finish_reason="error", tokens=0))
            await self.push_frame(ReplyEndFrame(turn_id=turn, text="", finish_reason="error"))

    async def _answer(self, frame: TranscriptFrame) -> None:
        opts, turn = self._options_for(frame), frame.turn_id
        speak = frame.request is None or frame.request.speak
        remember = frame.request is None or frame.request.remember
        cancel = self._work.begin(turn)
        self._before = {t: h for t, h in self._before.items() if t >= turn - 1}
        self._before[turn] = list(self.history)
        self.bus.publish(LlmStarted(turn_id=turn, spoken=speak, kept=remember))
        user = self._question(frame.text)
        messages = await call_in_thread(
            self._executor, self.model.fit_history, self._conversation(user, opts), opts.max_tokens
        )
        result = StreamResult[str]()
        parts: list[str] = []
        try:
            stream = iterate_in_thread(
                lambda: self._generate(messages, cancel, opts), self._executor, result
            )
            async for piece in stream:
                parts.append(piece)
                self.bus.publish(LlmToken(turn_id=turn, text=piece))
                if speak:
                    await self.push_frame(TextFrame(turn_id=turn, text=piece))
        except asyncio.CancelledError:
            cancel.set()
            if remember:
                self._remember(turn, user, "".join(parts))
            if not self.is_withdrawn(turn):  # a withdrawn turn has no reply, not even cut
                self.bus.publish(
                    ReplyDone(
                        turn_id=turn,
                        text="".join(parts),
                        finish_reason="cancelled",
                        tokens=len(parts),
                    )
                )
            raise
        text, reason = "".join(parts), result.value or "stop"
        if remember:
            self._remember(turn, user, text)
        self.bus.publish(
            ReplyDone(turn_id=turn, text=text, finish_reason=reason, tokens=len(parts))
        )
        await self.push_frame(ReplyEndFrame(turn_id=turn, text=text, finish_reason=reason))

    def _answered(self) -> list[ChatMessage]:
        """The history without a last question whose reply was never heard."""
        unanswered = bool(self.history) and self.history[-1].role == "user"
        return self.history[:-1] if unanswered else list(self.history)

    def _question(self, user_text: str) -> ChatMessage:
        """The user's message, joined to the question it continues if that went unanswered."""
        pending = self.history[len(self._answered()) :]
        words = [*(m.content for m in pending), user_text]
        return ChatMessage("user", " ".join(w for w in words if w))

    def _options_for(self, frame: TranscriptFrame) -> ReplyOptions:
        """The settings' reply options, with what this turn asks for itself."""
        opts, request = self.options, frame.request
        if request is not None and request.instructions is not None:
            opts = dataclasses.replace(opts, system_prompt=request.instructions)
        if request is not None and request.max_tokens is not None:
            opts = dataclasses.replace(opts, max_tokens=request.max_tokens)
        return opts

    def _conversation(
        self, user: ChatMessage, opts: ReplyOptions | None = None
    ) -> list[ChatMessage]:
        """System prompt, the answered history and the new user message."""
        prompt = (opts or self.options).system_prompt
        system = [ChatMessage("system", prompt)] if prompt else []
        return [*system, *self._answered(), user]

    def _prefill(self, user_text: str) -> None:
        """Runs on the model thread: evaluate the conversation as it would be with this message."""
        # A message too long for the window is reported by the real turn, not here.
        with contextlib.suppress(ValueError):
            conversation = self._conversation(self._question(user_text))
            self.model.prefill(self.model.fit_history(conversation, self.options.max_tokens))

    def _generate(
        self, messages: list[ChatMessage], cancel: threading.Event, opts: ReplyOptions
    ) -> Generator[str, None, str]:
        """Runs on the model thread: the reply stream, pausing while speech is synthesized."""
        stream = self.model.stream_chat(messages, opts.params, opts.max_tokens, opts.stop, cancel)
        if self.priority is None:
            return stream
        return self.priority.yield_to_speech(stream, cancel)

    def _remember(self, turn: int, user: ChatMessage, reply: str) -> None:
        if self.is_withdrawn(turn):
            return
        self.history = [*self._answered(), user, ChatMessage("assistant", reply)]
        self._remembered_turn = turn

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Interrupted) and event.turn_id == self._remembered_turn:
            self.truncate_reply(event.heard)

    def truncate_reply(self, heard: str) -> None:
        """Keep only ``heard`` of the last reply; drop the reply if nothing of it was heard."""
        if not self.history or self.history[-1].role != "assistant":
            return
        if heard.strip():
            self.history[-1] = ChatMessage("assistant", heard.strip())
        else:
            self.history.pop()
