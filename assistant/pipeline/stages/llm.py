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

from assistant.concurrency import LinkedCancel, StreamResult, call_in_thread, iterate_in_thread
from assistant.errors import AssistantError
from assistant.llm.grammar import Grammar
from assistant.llm.sampling import SamplerParams
from assistant.llm.toolcall import read_call
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
from assistant.pipeline.tool_loop import WORDS, ToolPolicy, exchange


@dataclass
class ReplyOptions:
    """How replies are generated."""

    system_prompt: str
    params: SamplerParams = field(default_factory=SamplerParams)
    max_tokens: int = 128
    stop: list[str] = field(default_factory=list)


@dataclass
class _Reply:
    """A turn's reply as it is made: its pieces, and the tool calls that led to it."""

    turn: int
    speak: bool
    parts: list[str] = field(default_factory=list)
    added: list[ChatMessage] = field(default_factory=list)  # calls and results, in order

    @property
    def text(self) -> str:
        """The reply so far."""
        return "".join(self.parts)

    @property
    def tokens(self) -> int:
        """Pieces of the reply (one per token, from a local model)."""
        return len(self.parts)


class LlmStage(ModelStage):
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
        self.history: list[ChatMessage] = []
        self._remembered_turn = 0  # the turn whose reply ends the history
        self._before: dict[int, list[ChatMessage]] = {}  # turn -> the history before it

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
        request = frame.request
        speak, remember = request is None or request.speak, request is None or request.remember
        cancel = self._work.begin(turn)
        self._before = {t: h for t, h in self._before.items() if t >= turn - 1}
        self._before[turn] = list(self.history)
        self.bus.publish(LlmStarted(turn_id=turn, spoken=speak, kept=remember))
        user = self._question(frame.text)
        reply = _Reply(turn, speak)
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
        if frame.request is not None and frame.request.say is not None:
            await self._publish(reply, frame.request.say)
            return "stop"
        tools, step = self.tools, 0
        routed = tools.routed(frame.text) if tools and frame.request is None else None
        if tools is not None and routed is not None:
            outcome = await tools.run(self.bus, reply.turn, routed, "precheck")
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
            text, reason = await self._step(reply, messages, cancel, opts, mode)
            call = read_call(text) if mode in ("auto", "call") else None
            if tools is None or call is None:
                return reason
            reply.parts.clear()
            outcome = await tools.run(self.bus, reply.turn, call, "model")
            reply.added += exchange(call, outcome)
            step += 1

    async def _step(
        self,
        reply: _Reply,
        messages: list[ChatMessage],
        cancel: threading.Event,
        opts: ReplyOptions,
        mode: str,
    ) -> tuple[str, str]:
        """One reply of the model in ``mode`` (see ``tool_loop``): its text and finish reason."""
        if mode == "call":
            assert self.tools is not None
            return await self._generate_step(
                reply, messages, cancel, opts, self.tools.call_grammar()
            )
        probe = mode in ("auto", "words")
        text, reason = await self._generate_step(reply, messages, cancel, opts, None, probe)
        if not (probe and text.lstrip().startswith("{")):
            return text, reason
        assert self.tools is not None  # it opened a call: made again, held to the grammar
        if mode == "auto":
            return await self._generate_step(
                reply, messages, cancel, opts, self.tools.call_grammar()
            )
        return await self._generate_step(reply, messages, cancel, opts, WORDS, probe=False)

    async def _generate_step(
        self,
        reply: _Reply,
        messages: list[ChatMessage],
        cancel: threading.Event,
        opts: ReplyOptions,
        grammar: Grammar | None,
        probe: bool = False,
    ) -> tuple[str, str]:
        """Stream one reply; its text and finish reason.

        A call (``grammar`` set, not WORDS) stays silent; with ``probe`` the pieces wait for
        the first character, and a reply opening with ``{`` stops there.
        """
        silent = grammar is not None and grammar is not WORDS
        result, step_cancel = StreamResult[str](), LinkedCancel(cancel)
        held: list[str] = []
        stream = iterate_in_thread(
            lambda: self._generate(messages, step_cancel, opts, grammar),
            self._executor,
            result,
            cancel=step_cancel,
        )
        async for piece in stream:
            held.append(piece)
            opening = "".join(held).lstrip()
            if silent or (probe and not opening):
                continue
            if probe and opening.startswith("{"):
                await stream.aclose()
                return opening, "stop"
            probe = False
            for part in held:
                await self._publish(reply, part)
            held.clear()
        return "".join(reply.parts if not silent else held), result.value or "stop"

    async def _publish(self, reply: _Reply, piece: str) -> None:
        reply.parts.append(piece)
        self.bus.publish(LlmToken(turn_id=reply.turn, text=piece))
        if reply.speak:
            await self.push_frame(TextFrame(turn_id=reply.turn, text=piece))

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
        prompt = self._system_prompt(opts or self.options)
        system = [ChatMessage("system", prompt)] if prompt else []
        return [*system, *self._answered(), user]

    def _system_prompt(self, opts: ReplyOptions) -> str:
        """The system prompt, with the tools listed when the model may call them."""
        if self.tools is None:
            return opts.system_prompt
        return self.tools.system_prompt(opts.system_prompt)

    def _prefill(self, user_text: str) -> None:
        """Runs on the model thread: evaluate the conversation as it would be with this message."""
        # A message too long for the window is reported by the real turn, not here.
        with contextlib.suppress(ValueError):
            conversation = self._conversation(self._question(user_text))
            self.model.prefill(self.model.fit_history(conversation, self.options.max_tokens))

    def _generate(
        self,
        messages: list[ChatMessage],
        cancel: threading.Event,
        opts: ReplyOptions,
        grammar: Grammar | None = None,
    ) -> Generator[str, None, str]:
        """Runs on the model thread: the reply stream, pausing while speech is synthesized."""
        stream = self.model.stream_chat(
            messages, opts.params, opts.max_tokens, opts.stop, cancel, grammar
        )
        if self.priority is None:
            return stream
        return self.priority.yield_to_speech(stream, cancel)

    def _remember(self, turn: int, user: ChatMessage, reply: _Reply) -> None:
        if self.is_withdrawn(turn):
            return
        calls = reply.added if reply.text else []  # a call whose answer never came is dropped
        self.history = [*self._answered(), user, *calls, ChatMessage("assistant", reply.text)]
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
