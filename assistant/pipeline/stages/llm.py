"""LLM stage: the user's words in, the streamed reply out, read from and recorded in the context.

The conversation context (``pipeline/context.py``) is handed to the stage; the stage records
each turn in it. What the user heard of a cut reply reaches the context as a frame, through
the heard stage after the sink (``stages/heard.py``), never through this stage.
"""

from __future__ import annotations

import asyncio
import threading

from assistant.concurrency import call_in_thread
from assistant.errors import AssistantError
from assistant.llm.toolcall import call_text, read_call
from assistant.models.interfaces import ChatMessage, LanguageModel
from assistant.pipeline.context import ConversationContext
from assistant.pipeline.events import EventBus, LlmStarted, ReplyDone, StageFailed
from assistant.pipeline.frames import (
    DataFrame,
    Frame,
    ReplyEndFrame,
    SpeculativeTranscriptFrame,
    TranscriptFrame,
)
from assistant.pipeline.priority import SpeechFirst
from assistant.pipeline.processor import ErrorHandler
from assistant.pipeline.stages.reply_steps import (
    ReplyOptions,
    ReplySteps,
    _Reply,
    options_for,
    reply_language,
)
from assistant.pipeline.stages.turn_text import TurnText
from assistant.pipeline.tool_loop import exchange, hand_out, run_tool
from assistant.pipeline.turn_taking import TurnBoard
from assistant.tools.policy import ToolPolicy

__all__ = ["LlmStage", "ReplyOptions"]


class LlmStage(ReplySteps):
    """Streams a reply per transcript; the context is fitted to the model's context window."""

    def __init__(
        self,
        model: LanguageModel,
        options: ReplyOptions,
        priority: SpeechFirst | None = None,
        survive_errors: bool = False,
        tools: ToolPolicy | None = None,
        context: ConversationContext | None = None,
        board: TurnBoard | None = None,
    ) -> None:
        """``tools``: what a turn may call (None: nothing; its prompt is in ``options``).

        ``context``: the conversation's (None: one of the stage's own). ``board``: the
        tentative turns, whose words the model scores before replying when it is asked to.
        """
        super().__init__("llm")
        self.tools = tools
        # A conversation that goes on (live, over a socket, a kiosk) ends a turn whose reply
        # failed and keeps listening; a one-shot run fails with the error instead.
        self.survive_errors = survive_errors
        self.model, self.options, self.priority = model, options, priority
        self.context = context if context is not None else ConversationContext()
        self.turn_text = TurnText(self, board)

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; meanwhile process the system prompt, so the first reply is faster."""
        await super().start(bus, on_error)
        if prompt := self.system_prompt(self.options):
            self._executor.submit(self.model.prefill, [ChatMessage("system", prompt)])

    async def queue_frame(self, frame: Frame) -> None:
        """Words heard while the user still speaks are read at once, or not at all."""
        if not (isinstance(frame, SpeculativeTranscriptFrame) and frame.open):
            await super().queue_frame(frame)
        elif not self.is_stale(frame):
            self.turn_text.read_ahead(frame)

    async def process_frame(self, frame: DataFrame) -> None:
        """Answer transcripts; forward everything else."""
        if isinstance(frame, TranscriptFrame):
            await self._reply(frame)
        elif isinstance(frame, SpeculativeTranscriptFrame):
            # Read the likely prompt now; the reply, if it comes, reuses the cache.
            self.turn_text.read_ahead(frame)
        else:
            await self.push_frame(frame)

    def interrupt_model(self) -> None:
        """Stop the reply or prefill running now: a prompt read in one call can take seconds."""
        self.model.interrupt()

    async def on_retract(self, turn_id: int) -> None:
        """A withdrawn turn stops, and leaves the context as it was before it."""
        await super().on_retract(turn_id)
        self.context.withdraw(turn_id)

    @property
    def history(self) -> list[ChatMessage]:
        """The conversation so far, as the model will read it."""
        return self.context.messages

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
        opts, turn = options_for(self.options, frame), frame.turn_id
        request = frame.request
        speak, remember = request is None or request.speak, request is None or request.remember
        cancel = self._work.begin(turn)
        self.context.begin(turn)
        self.bus.publish(LlmStarted(turn_id=turn, spoken=speak, kept=remember))
        user = self.context.question(frame.text)
        reply = _Reply(turn, speak, reply_language(frame, opts))
        try:
            if self.turn_text.scores(turn):  # the decision waits for it, the reply reuses it
                await self.turn_text.score(turn, user, opts)
            reason = await self._steps(frame, user, reply, cancel, opts)
        except asyncio.CancelledError:
            cancel.set()
            if remember:
                self._remember(turn, user, reply)
            if not self.is_withdrawn(turn):  # a withdrawn turn has no reply, not even cut
                done = ReplyDone(
                    turn_id=turn, text=reply.text, finish_reason="cancelled", tokens=reply.tokens
                )
                self.bus.publish(done)
            raise
        if remember:
            self._remember(turn, user, reply)
        self.bus.publish(
            ReplyDone(turn_id=turn, text=reply.text, finish_reason=reason, tokens=reply.tokens)
        )
        await self.push_frame(ReplyEndFrame(turn_id=turn, text=reply.text, finish_reason=reason))

    async def _steps(
        self,
        frame: TranscriptFrame,
        user: ChatMessage,
        reply: _Reply,
        cancel: threading.Event,
        opts: ReplyOptions,
    ) -> str:
        """The turn's reply: tool calls (pre-checked, or the model's) and then words."""
        request = frame.request
        if request is not None and request.say is not None:
            await self._publish(reply, request.say)
            return "stop"
        tools, step = self._tools_for(request), int(request is not None and request.follows_result)
        routed = tools.routed(frame.text) if tools and frame.request is None else None
        if tools is not None and routed is not None:
            outcome = await run_tool(tools, self.bus, reply.turn, routed, "precheck")
            if tools.speaks(routed.name, outcome):
                await self._publish(reply, outcome.text)
                return "stop"
            reply.added += exchange(routed, outcome)
            step = tools.max_steps  # the model words the answer; it calls nothing more
        while True:
            mode = tools.mode(step) if tools is not None else "free"
            prompt = self.context.prompt(self.system_prompt(opts), user, reply.added)
            messages = await call_in_thread(
                self._executor, self.context.fit, self.model, prompt, opts.max_tokens
            )
            text, reason = await self._step(reply, messages, cancel, opts, mode, tools)
            call = read_call(text) if mode in ("auto", "call") else None
            if tools is None or call is None:
                return reason
            reply.parts.clear()
            if not tools.runs_here(call.name):  # the client runs it: the reply ends with it
                hand_out(self.bus, reply.turn, call)
                reply.added.append(ChatMessage("assistant", call_text(call)))
                reply.open_call = True
                return "tool_calls"
            outcome = await run_tool(tools, self.bus, reply.turn, call, "model")
            reply.added += exchange(call, outcome)
            step += 1

    def _remember(self, turn: int, user: ChatMessage, reply: _Reply) -> None:
        if not self.is_withdrawn(turn):
            self.context.remember(turn, user, reply.added, reply.text, reply.open_call)
