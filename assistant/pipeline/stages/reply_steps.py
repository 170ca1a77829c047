"""How the LLM stage makes one reply: the model's steps, held or streamed (see ``tools/policy.py``).

A step in ``call`` mode is held to the call grammar and stays silent; in ``auto`` and ``words``
mode the reply runs free and its pieces wait for the first character: a reply opening with
``{`` stops there and is made again held to a grammar (the call's, or WORDS), anything else is
streamed on as it comes (``LlmToken`` events, and ``TextFrame`` to the voice).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Generator
from dataclasses import dataclass, field

from assistant.concurrency import LinkedCancel, StreamResult, iterate_in_thread
from assistant.languages import reply_instruction
from assistant.llm.grammar import Grammar
from assistant.llm.sampling import SamplerParams
from assistant.models.interfaces import ChatMessage, LanguageModel
from assistant.models.request import TextRequest
from assistant.pipeline.context import ConversationContext
from assistant.pipeline.events import LlmToken
from assistant.pipeline.frames import ReplyRequest, TextFrame, TranscriptFrame
from assistant.pipeline.priority import SpeechFirst
from assistant.pipeline.stages.model_stage import ModelStage
from assistant.tools.policy import WORDS, ToolPolicy


@dataclass
class ReplyOptions:
    """How replies are generated."""

    system_prompt: str
    params: SamplerParams = field(default_factory=SamplerParams)
    max_tokens: int = 128
    stop: list[str] = field(default_factory=list)
    follow_language: bool = False  # reply in the language recognition heard (stt "auto")


def options_for(options: ReplyOptions, frame: TranscriptFrame) -> ReplyOptions:
    """The settings' reply ``options``, with what this turn asks for itself."""
    opts, request = options, frame.request
    if request is not None and request.instructions is not None:
        opts = dataclasses.replace(opts, system_prompt=request.instructions)
    if request is not None and request.max_tokens is not None:
        opts = dataclasses.replace(opts, max_tokens=request.max_tokens)
    if language := reply_language(frame, opts):  # heard in another language: answer in it
        prompt = f"{opts.system_prompt} {reply_instruction(language)}".strip()
        opts = dataclasses.replace(opts, system_prompt=prompt)
    return opts


def reply_language(frame: TranscriptFrame, opts: ReplyOptions) -> str:
    """The language to reply in, when it is not the default (English) one."""
    follows = opts.follow_language and frame.language not in ("", "en")
    return frame.language if follows else ""


@dataclass
class _Reply:
    """A turn's reply as it is made: its pieces, and the tool calls that led to it."""

    turn: int
    speak: bool
    language: str = ""  # the reply's language when it is not the default one
    parts: list[str] = field(default_factory=list)
    added: list[ChatMessage] = field(default_factory=list)  # calls and results, in order
    open_call: bool = False  # it ends with a call the client runs (its result comes later)

    @property
    def text(self) -> str:
        """The reply so far."""
        return "".join(self.parts)

    @property
    def tokens(self) -> int:
        """Pieces of the reply (one per token, from a local model)."""
        return len(self.parts)


class ReplySteps(ModelStage):
    """The base of the LLM stage: how it makes one step of a reply, on its model's thread."""

    model: LanguageModel
    options: ReplyOptions
    tools: ToolPolicy | None
    priority: SpeechFirst | None
    context: ConversationContext

    async def _step(
        self,
        reply: _Reply,
        messages: list[ChatMessage],
        cancel: threading.Event,
        opts: ReplyOptions,
        mode: str,
        tools: ToolPolicy | None = None,
    ) -> tuple[str, str]:
        """One reply of the model in ``mode`` (see ``tools/policy.py``): its text and finish reason.

        ``tools``: the turn's tools (None: the stage's).
        """
        tools = tools or self.tools
        if mode == "call":
            assert tools is not None
            return await self._generate_step(reply, messages, cancel, opts, tools.call_grammar())
        probe = mode in ("auto", "words")
        text, reason = await self._generate_step(reply, messages, cancel, opts, None, probe)
        if not (probe and text.lstrip().startswith("{")):
            return text, reason
        assert tools is not None  # it opened a call: made again, held to the grammar
        if mode == "auto":
            return await self._generate_step(reply, messages, cancel, opts, tools.call_grammar())
        if not self.model.free_grammar:  # a remote server: JSON schemas only
            return await self._generate_step(reply, messages, cancel, opts, None)
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
            frame = TextFrame(turn_id=reply.turn, text=piece, language=reply.language)
            await self.push_frame(frame)

    def _generate(
        self,
        messages: list[ChatMessage],
        cancel: threading.Event,
        opts: ReplyOptions,
        grammar: Grammar | None = None,
    ) -> Generator[str, None, str]:
        """Runs on the model thread: the reply stream, pausing while speech is synthesized."""
        request = TextRequest.of(opts.params, opts.max_tokens, opts.stop, grammar)
        stream = self.model.stream_chat(messages, request, cancel)
        if self.priority is None:
            return stream
        return self.priority.yield_to_speech(stream, cancel)

    def _tools_for(self, request: ReplyRequest | None) -> ToolPolicy | None:
        """The tools of the turn: the conversation's, with the reply's own choice if it has one."""
        if self.tools is None or request is None or request.tool_choice is None:
            return self.tools
        return dataclasses.replace(self.tools, choice=request.tool_choice)

    def system_prompt(self, opts: ReplyOptions) -> str:
        """The system prompt, with the tools listed when the model may call them."""
        if self.tools is None:
            return opts.system_prompt
        return self.tools.system_prompt(opts.system_prompt)
