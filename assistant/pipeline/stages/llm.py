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

from assistant.concurrency import call_in_thread
from assistant.errors import AssistantError
from assistant.languages import reply_instruction
from assistant.llm.toolcall import call_text, read_call
from assistant.models.interfaces import ChatMessage, LanguageModel
from assistant.pipeline.events import (
    Event,
    EventBus,
    Interrupted,
    LlmStarted,
    ReplyDone,
    StageFailed,
)
from assistant.pipeline.frames import (
    DataFrame,
    ReplyEndFrame,
    ReplyRequest,
    SpeculativeTranscriptFrame,
    TranscriptFrame,
)
from assistant.pipeline.history import History
from assistant.pipeline.priority import SpeechFirst
from assistant.pipeline.processor import ErrorHandler
from assistant.pipeline.stages.reply_steps import ReplyOptions, ReplySteps, _Reply

__all__ = ["LlmStage", "ReplyOptions"]
from assistant.pipeline.tool_loop import exchange, hand_out, run_tool
from assistant.tools.policy import ToolPolicy


class LlmStage(ReplySteps):
    """Streams a reply per transcript; the history is trimmed to the model's context window."""

    def __init__(
        self,
        model: LanguageModel,
        options: ReplyOptions,
        priority: SpeechFirst | None = None,
        survive_errors: bool = False,
        tools: ToolPolicy | None = None,
    ) -> None:
        """``tools``: what a turn may call (None: nothing; its prompt is in ``options``)."""
        super().__init__("llm")
        self.tools = tools
        # A conversation that goes on (live, over a socket, a kiosk) ends a turn whose reply
        # failed and keeps listening; a one-shot run fails with the error instead.
        self.survive_errors = survive_errors
        self.model = model
        self.options = options
        self.priority = priority
        self.log = History()

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; meanwhile process the system prompt, so the first reply is faster."""
        await super().start(bus, on_error)
        bus.listen(self._on_event)
        if prompt := self._system_prompt(self.options):
            self._executor.submit(self.model.prefill, [ChatMessage("system", prompt)])

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
        self.log.withdraw(turn_id)

    @property
    def history(self) -> list[ChatMessage]:
        """The conversation so far, as the model will read it."""
        return self.log.messages

    @history.setter
    def history(self, messages: list[ChatMessage]) -> None:
        self.log.messages = messages

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
        request = frame.request
        speak, remember = request is None or request.speak, request is None or request.remember
        cancel = self._work.begin(turn)
        self.log.begin(turn)
        self.bus.publish(LlmStarted(turn_id=turn, spoken=speak, kept=remember))
        user = self.log.question(frame.text)
        reply = _Reply(turn, speak, self._language(frame, opts))
        try:
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
            conversation = [*self._conversation(user, opts), *reply.added]
            messages = await call_in_thread(
                self._executor, self.model.fit_history, conversation, opts.max_tokens
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

    def _tools_for(self, request: ReplyRequest | None) -> ToolPolicy | None:
        """The tools of the turn: the conversation's, with the reply's own choice if it has one."""
        if self.tools is None or request is None or request.tool_choice is None:
            return self.tools
        return dataclasses.replace(self.tools, choice=request.tool_choice)

    def _options_for(self, frame: TranscriptFrame) -> ReplyOptions:
        """The settings' reply options, with what this turn asks for itself."""
        opts, request = self.options, frame.request
        if request is not None and request.instructions is not None:
            opts = dataclasses.replace(opts, system_prompt=request.instructions)
        if request is not None and request.max_tokens is not None:
            opts = dataclasses.replace(opts, max_tokens=request.max_tokens)
        if language := self._language(frame, opts):  # heard in another language: answer in it
            prompt = f"{opts.system_prompt} {reply_instruction(language)}".strip()
            opts = dataclasses.replace(opts, system_prompt=prompt)
        return opts

    @staticmethod
    def _language(frame: TranscriptFrame, opts: ReplyOptions) -> str:
        """The language to reply in, when it is not the default (English) one."""
        follows = opts.follow_language and frame.language not in ("", "en")
        return frame.language if follows else ""

    def _conversation(
        self, user: ChatMessage, opts: ReplyOptions | None = None
    ) -> list[ChatMessage]:
        """System prompt, the answered history and the new user message."""
        prompt = self._system_prompt(opts or self.options)
        system = [ChatMessage("system", prompt)] if prompt else []
        return [*system, *self.log.answered(), user]

    def _system_prompt(self, opts: ReplyOptions) -> str:
        """The system prompt, with the tools listed when the model may call them."""
        if self.tools is None:
            return opts.system_prompt
        return self.tools.system_prompt(opts.system_prompt)

    def _prefill(self, user_text: str) -> None:
        """Runs on the model thread: evaluate the conversation as it would be with this message."""
        # A message too long for the window is reported by the real turn, not here.
        with contextlib.suppress(ValueError):
            conversation = self._conversation(self.log.question(user_text))
            self.model.prefill(self.model.fit_history(conversation, self.options.max_tokens))

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Interrupted):
            self.log.interrupted(event.turn_id, event.heard)

    def truncate_reply(self, heard: str) -> None:
        """Keep only ``heard`` of the last reply; drop the reply if nothing of it was heard."""
        self.log.truncate(heard)

    def _remember(self, turn: int, user: ChatMessage, reply: _Reply) -> None:
        if not self.is_withdrawn(turn):
            self.log.remember(turn, user, reply.added, reply.text, reply.open_call)
