"""Wyoming ``handle``: a transcript in, the chat model's answer out, in one conversation per client.

A thin adapter on the conversation core: each connection gets a text-only ``Conversation``
(typed turns, no speech models in its pipeline, its own chat context from the hub), so a
client's follow-up questions are answered with what was said before. The answer streams as
``handled-start``, a ``handled-chunk`` per piece of text and ``handled-stop``, then the whole
of it as ``handled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop

from assistant.doors import base
from assistant.pipeline import events
from assistant.pipeline.conversation import Conversation
from assistant.pipeline.stages.sink import AudioSink
from assistant.pipeline.voice import Live
from assistant.server.engine import Engine

Send = Callable[[Event], Awaitable[None]]


class HandleSession:
    """The conversation of one Wyoming client, opened at its first transcript."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.hub = engine, engine.hub
        self._stack = contextlib.AsyncExitStack()
        self._conversation: Conversation | None = None
        self._pieces: asyncio.Queue[events.Event] = asyncio.Queue()

    async def answer(self, text: str, send: Send) -> None:
        """Answer ``text`` and stream the answer through ``send``."""
        conversation = await self._open()
        turn = await conversation.say(text)
        await send(HandledStart().event())
        failure = ""
        async for event in self._reply(turn):
            if isinstance(event, events.LlmToken):
                await send(HandledChunk(text=event.text).event())
            elif isinstance(event, events.StageFailed):
                failure = event.message
            elif isinstance(event, events.ReplyDone):
                await send(HandledStop().event())
                if event.finish_reason == "error":
                    await send(Error(text=failure or "the reply failed", code="handle").event())
                else:
                    await send(Handled(text=event.text).event())

    async def _reply(self, turn: int) -> AsyncIterator[events.Event]:
        while True:
            event = await self._pieces.get()
            if event.turn_id != turn:
                continue
            yield event
            if isinstance(event, events.ReplyDone):
                return

    async def _open(self) -> Conversation:
        if self._conversation is not None:
            return self._conversation
        models = await self._stack.enter_async_context(self.hub.conversation())
        observers = base.observers(self.engine)  # its turns count in /metrics
        observers.bus.listen(self._collect)
        text_only = dataclasses.replace(models, tts=None, stt=None, turn=None)
        # Live(): a failed reply ends its turn, and the client's conversation goes on
        conversation = Conversation(
            self.hub.settings, text_only, None, AudioSink(), observers=observers, live=Live()
        )
        await conversation.start()
        self._conversation = conversation
        return conversation

    def _collect(self, event: events.Event) -> None:
        if isinstance(event, events.LlmToken | events.ReplyDone | events.StageFailed):
            self._pieces.put_nowait(event)

    async def close(self) -> None:
        """End the conversation and give its chat context back."""
        await base.end_conversation(self._conversation, "client gone")
        await self._stack.aclose()
