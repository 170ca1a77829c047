"""LLM stage: the user's words in, the streamed reply out; keeps the conversation history."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from assistant.interfaces import ChatMessage, LanguageModel
from assistant.llm.sampling import SamplerParams
from assistant.pipeline.events import EventBus
from assistant.pipeline.frames import DataFrame, ReplyEndFrame, TextFrame, TranscriptFrame
from assistant.pipeline.processor import ErrorHandler, FrameProcessor
from assistant.pipeline.threads import (
    StreamResult,
    call_in_thread,
    iterate_in_thread,
    model_executor,
)


@dataclass
class ReplyOptions:
    """How replies are generated."""

    system_prompt: str
    params: SamplerParams = field(default_factory=SamplerParams)
    max_tokens: int = 128
    stop: list[str] = field(default_factory=list)


class LlmStage(FrameProcessor):
    """Streams a reply per transcript; the history is trimmed to the model's context window."""

    def __init__(self, model: LanguageModel, options: ReplyOptions) -> None:
        super().__init__("llm")
        self.model = model
        self.options = options
        self.history: list[ChatMessage] = []
        self._executor = model_executor("llm")
        self._cancel = threading.Event()
        self._turn = 0

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; meanwhile process the system prompt, so the first reply is faster."""
        await super().start(bus, on_error)
        if self.options.system_prompt:
            self._executor.submit(
                self.model.prefill, [ChatMessage("system", self.options.system_prompt)]
            )

    async def process_frame(self, frame: DataFrame) -> None:
        """Answer transcripts; forward everything else."""
        if isinstance(frame, TranscriptFrame):
            await self._reply(frame)
        else:
            await self.push_frame(frame)

    async def on_interrupt(self, turn_id: int) -> None:
        """Stop generating for a cancelled turn."""
        if self._turn <= turn_id:
            self._cancel.set()

    async def _reply(self, frame: TranscriptFrame) -> None:
        opts, turn = self.options, frame.turn_id
        self._turn, self._cancel = turn, threading.Event()
        user = ChatMessage("user", frame.text)
        system = [ChatMessage("system", opts.system_prompt)] if opts.system_prompt else []
        messages = await call_in_thread(
            self._executor, self.model.fit_history, [*system, *self.history, user], opts.max_tokens
        )
        self.bus.publish("llm_started", turn, messages=len(messages))
        cancel, result = self._cancel, StreamResult[str]()
        parts: list[str] = []
        try:
            stream = iterate_in_thread(
                lambda: self.model.stream_chat(
                    messages, opts.params, opts.max_tokens, opts.stop, cancel
                ),
                self._executor,
                result,
            )
            async for piece in stream:
                parts.append(piece)
                self.bus.publish("llm_token", turn, text=piece)
                await self.push_frame(TextFrame(turn_id=turn, text=piece))
        except asyncio.CancelledError:
            cancel.set()
            self._remember(user, "".join(parts))
            self.bus.publish(
                "reply_done",
                turn,
                text="".join(parts),
                finish_reason="cancelled",
                tokens=len(parts),
            )
            raise
        text, reason = "".join(parts), result.value or "stop"
        self._remember(user, text)
        self.bus.publish("reply_done", turn, text=text, finish_reason=reason, tokens=len(parts))
        await self.push_frame(ReplyEndFrame(turn_id=turn, text=text, finish_reason=reason))

    def _remember(self, user: ChatMessage, reply: str) -> None:
        self.history += [user, ChatMessage("assistant", reply)]

    async def cleanup(self) -> None:
        """Stop a generation still running and release the thread."""
        self._cancel.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
