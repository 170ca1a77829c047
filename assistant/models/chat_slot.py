"""The shared chat model of a long-running process: loaded, swapped, put to sleep, woken.

The text model (local, with its pool of contexts, or a remote server) is loaded at start. It
is swapped or unloaded only while nothing uses it: no conversation holds a context and the
caller's ``busy`` check (the server's admission: replies running or waiting) says so;
otherwise ``InUse``, which the API answers with 409. ``server.keep_alive`` unloads it while
unused (``sleep``); the next request loads it again (``awake``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from assistant.config import Settings
from assistant.models import loaders
from assistant.models.text import TextBackend


class NoModel(Exception):
    """No chat model is loaded (it was unloaded, or loading another failed)."""


class InUse(Exception):
    """The model cannot be swapped while generations or conversations use it."""


class ChatSlot:
    """The one chat model a process shares, and who uses it (the base of ModelHub)."""

    def __init__(self, settings: Settings, text: TextBackend | None) -> None:
        self.settings = settings
        self._text = text
        self.conversations = 0  # open conversations, each holding a chat context
        self._swap_lock = asyncio.Lock()
        self._loaded_as: str | None = None  # the name it was swapped to (None: the settings')
        self._layers: int | None = None  # the GPU layers it was swapped with (None: the settings')
        self.asleep = False  # unloaded by keep_alive: the next request loads it again
        self.last_used = time.monotonic()  # when a request or conversation last ended
        self.users = 0  # requests between waking the model and their end

    @property
    def text(self) -> TextBackend:
        """What generates text (NoModel when no model is loaded)."""
        if self._text is None:
            raise NoModel("no chat model is loaded; load one with POST /api/models/load")
        return self._text

    @property
    def name(self) -> str:
        """The chat model's name ("" while none is loaded)."""
        return self._text.name if self._text is not None else ""

    @property
    def chosen(self) -> str:
        """The name the chat model is loaded by, as ``/api/models`` lists it and ``load`` takes it.

        A catalog name or a path (``llm.model``, or the one last given to ``swap``); the remote
        model's name with a remote backend.
        """
        if self.remote:
            return self.name
        name = self._loaded_as or self.settings.llm.model
        return name or loaders.store(self.settings).resolve("llm").name  # the default's

    @property
    def loaded(self) -> bool:
        """Whether a chat model is loaded."""
        return self._text is not None

    @property
    def remote(self) -> bool:
        """Whether text comes from another server (``llm.backend = "openai"``)."""
        return self._text is not None and self._text.backend == "openai"

    async def swap(
        self, name: str | None, busy: Callable[[], bool] = lambda: False, layers: int | None = None
    ) -> None:
        """Load the chat model ``name`` in place of the current one, or with None unload it.

        ``layers``: GPU layers instead of ``llm.gpu_layers`` (kept for reloads after
        keep_alive). The new model loads before the old one is released, so a failed load
        leaves the old one serving. NotAvailable with a remote backend; InUse while ``busy()``
        or a conversation holds a context; the errors of ``loaders.load_chat_model`` otherwise.
        """
        loaders.check_swappable(self.remote)
        async with self._swap_lock:
            self._check_unused(busy)
            new = (
                await loaders.load_chat_model(self.settings, name, layers)
                if name is not None
                else None
            )
            try:
                self._check_unused(busy)  # requests may have started during the load
            except InUse:
                if new is not None:
                    await new.close()
                raise
            old, self._text = self._text, new
            self._loaded_as, self._layers, self.asleep = name, layers, False
            self.last_used = time.monotonic()  # keep_alive counts from the load, not from before
            if old is not None:
                await old.close()

    async def sleep(self, busy: Callable[[], bool]) -> None:
        """Unload the chat model (``server.keep_alive``); ``awake`` loads it again."""
        async with self._swap_lock:
            if self._text is None or busy() or self.conversations or self.users:
                return
            old, self._text, self.asleep = self._text, None, True
            await old.close()

    @contextlib.asynccontextmanager
    async def using(self) -> AsyncIterator[None]:
        """Hold the chat model for one request: loaded again if asleep, not unloaded meanwhile."""
        self.users += 1
        try:
            await self.awake()
            yield
        finally:
            self.users -= 1
            self.last_used = time.monotonic()

    async def awake(self) -> None:
        """Load the chat model again if keep_alive unloaded it (at once otherwise)."""
        if not self.asleep:
            return
        async with self._swap_lock:
            if self.asleep:
                name = self._loaded_as
                load = (
                    loaders.load_text(self.settings)
                    if name is None
                    else (loaders.load_chat_model(self.settings, name, self._layers))
                )
                self._text, self.asleep = await load, False

    def _check_unused(self, busy: Callable[[], bool]) -> None:
        if busy() or self.conversations:
            raise InUse("the model is in use; retry when its requests and voice sessions end")

    async def close_text(self) -> None:
        """Free the chat model, once the calls still running on it have ended."""
        async with self._swap_lock:
            if self._text is not None:
                await self._text.close()
