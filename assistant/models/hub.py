"""The model hub: every model a long-running process (server, kiosk) serves with, loaded once.

The text model (local, with its pool of contexts, or a remote server) is loaded at start; the
speech models, the end-of-turn model and the vision model load on first use, once, behind a
lock each, and their weights are shared by every request and conversation. A conversation gets
a chat context of its own on the shared weights (``conversation``). The chat model is swapped
or unloaded only while nothing uses it: no conversation holds a context and the caller's
``busy`` check (the server's admission: replies running or waiting) says so; otherwise
``InUse``, which the API answers with 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import numpy as np

from assistant.concurrency import finish_in_thread, run_to_the_end
from assistant.config import Settings
from assistant.heap import trim_heap
from assistant.models import loaders
from assistant.models.fair_share import audio_chunks, joined, speech_pieces, spoken
from assistant.models.interfaces import (
    EndOfTurn,
    LanguageModel,
    Pcm16,
    SpeechToText,
    TextToSpeech,
    Transcript,
)
from assistant.models.llava import LlamaVisionModel
from assistant.models.seeing import Eyes, SeeingChatModel
from assistant.models.text import TextBackend, VoiceModel


class NoModel(Exception):
    """No chat model is loaded (it was unloaded, or loading another failed)."""


class InUse(Exception):
    """The model cannot be swapped while generations or conversations use it."""


class ModelHub:
    """The process's models, each loaded lazily and once."""

    def __init__(self, settings: Settings, text: TextBackend | None) -> None:
        self.settings = settings
        self._text = text
        self._loaded: dict[str, Any] = {}  # role -> model, for stt, tts, turn and vision
        self.on_disk: dict[str, tuple[str, int | None]] = {}  # role -> (name, bytes), at load
        self._locks = {role: asyncio.Lock() for role in ("stt", "tts", "turn", "vision", "voices")}
        self.vision_turn = asyncio.Lock()  # the vision model answers one question at a time
        self.conversations = 0  # open conversations, each holding a chat context
        self._swap_lock = asyncio.Lock()
        self._loaded_as: str | None = None  # the name it was swapped to (None: the settings')
        self._layers: int | None = None  # the GPU layers it was swapped with (None: the settings')
        self.asleep = False  # unloaded by keep_alive: the next request loads it again
        self.last_used = time.monotonic()  # when a request or conversation last ended
        self.users = 0  # requests between waking the model and their end

    @classmethod
    async def load(cls, settings: Settings) -> ModelHub:
        """The hub with the text model of the settings loaded (or its remote server reached)."""
        return cls(settings, await loaders.load_text(settings))

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

    async def _model(self, role: str) -> Any:
        """The model of ``role`` (stt, tts, turn, vision, voices), loaded on first use."""
        if role in self._loaded:  # without queueing for the lock, which speech turns take too
            return self._loaded[role]
        async with self._locks[role]:
            if role not in self._loaded:
                self._loaded[role] = await asyncio.to_thread(
                    loaders.LOADERS[role], self.settings, loaders.store(self.settings)
                )
                if self._loaded[role] is not None and role != "voices":  # for /health, once
                    self.on_disk[role] = await asyncio.to_thread(_on_disk, self.settings, role)
            return self._loaded[role]

    async def stt(self) -> SpeechToText:
        """The speech-to-text model."""
        return await self._model("stt")  # type: ignore[no-any-return]

    async def tts(self) -> TextToSpeech:
        """The voice."""
        return await self._model("tts")  # type: ignore[no-any-return]

    async def turn(self) -> EndOfTurn | None:
        """The end-of-turn model (None with ``vad.end_of_turn = "silence"``)."""
        return await self._model("turn")  # type: ignore[no-any-return]

    async def vision(self) -> LlamaVisionModel:
        """The vision model of ``vision.model`` (ModelError when unset)."""
        return await self._model("vision")  # type: ignore[no-any-return]

    @property
    def loaded_vision(self) -> LlamaVisionModel | None:
        """The vision model, when one has been loaded."""
        return self._loaded.get("vision")

    async def transcribe(self, pcm: Pcm16) -> Transcript:
        """Speech to text of 16 kHz mono audio.

        One chunk of at most 30 s at a time on the shared model, each in a turn of its own
        (see fair_share.py): a short request waiting behind a long one goes next.
        """
        stt = await self.stt()
        heard: list[Transcript] = []
        for chunk in audio_chunks(pcm):
            async with self._locks["stt"]:
                heard.append(
                    await finish_in_thread(stt.transcribe, chunk.astype(np.float32) / 32768.0)
                )
        return joined(heard)

    @property
    def transcribing(self) -> bool:
        """Whether a transcription holds the speech-to-text model now."""
        return self._locks["stt"].locked()

    async def voice(self, language: str | None = None) -> TextToSpeech:
        """The voice of ``tts.voices`` for ``language``, or with None the voice of ``tts.model``.

        KeyError when no voice is configured for ``language``.
        """
        if language is None:
            return await self.tts()
        voices: dict[str, TextToSpeech] = await self._model("voices")
        return voices[language]

    async def speak_stream(
        self, text: str, language: str | None = None
    ) -> AsyncGenerator[Pcm16, None]:
        """Text to speech, a few sentences at a time (see ``voice`` for ``language``).

        One piece of text at a time on the shared voices, each in a turn of its own (see
        fair_share.py): a short request waiting behind a long one goes next. A reader that
        leaves stops it after the sentence being spoken.
        """
        tts = await self.voice(language)
        for piece in speech_pieces(text):
            cancel = threading.Event()  # a reader that leaves stops it after this sentence
            async with self._locks["tts"]:
                audio = await finish_in_thread(spoken, tts, piece, cancel, cancel=cancel)
            for pcm in audio:
                yield pcm

    @contextlib.asynccontextmanager
    async def conversation(self, eyes: Eyes | None = None) -> AsyncIterator[loaders.Models]:
        """The models of one conversation, for as long as it lasts.

        A chat context of its own (closed after), the shared speech models and, with
        ``eyes``, the vision model for turns with a picture: loaded now when ``eyes`` can
        already see (an image or a camera), else when a picture arrives. While it lasts the
        chat model is not swapped under it.
        """
        await self.awake()
        self.conversations += 1
        chat: VoiceModel | None = None
        try:
            stt, tts, turn = await self.stt(), await self.tts(), await self.turn()
            chat = await self.text.voice_model()
            llm: LanguageModel = chat
            if eyes is not None:
                sees = eyes.image is not None or eyes.camera is not None
                vision = await self.vision() if sees else self.loaded_vision
                llm = SeeingChatModel(chat, vision, eyes)
            voices = await self._model("voices")
            yield loaders.Models(stt=stt, llm=llm, tts=tts, turn=turn, voices=voices)
        finally:
            if chat is not None:  # closing waits for a reply still running on its context
                await run_to_the_end(chat.close)
            self.conversations -= 1
            self.last_used = time.monotonic()
            asyncio.get_running_loop().run_in_executor(None, trim_heap)  # its buffers go back

    async def close(self) -> None:
        """Free the models, each once the calls still running on it have ended."""
        async with self._swap_lock:
            if self._text is not None:
                await self._text.close()
        vision = self.loaded_vision
        if vision is not None:
            async with self.vision_turn:  # an answer still streaming holds it
                vision.close()


_CONFIGURED = {"stt": "stt.model", "tts": "tts.model", "turn": "vad.turn_model"}


def report(hub: ModelHub) -> list[dict[str, Any]]:
    """What ``hub`` has loaded: role, name and bytes of weights on disk (None where unknown)."""
    rows: list[dict[str, Any]] = []
    if hub.loaded:
        info = hub.text.info()
        rows.append({"role": "llm", "name": hub.name, "bytes": info.get("size")})
    for role, (name, size) in hub.on_disk.items():
        rows.append({"role": role, "name": name, "bytes": size})
    return rows


def _on_disk(settings: Settings, role: str) -> tuple[str, int | None]:
    """The name and size on disk of the model of ``role`` (vision models: the name only)."""
    if role not in _CONFIGURED:
        return settings.vision.model or role, None
    section, key = _CONFIGURED[role].split(".")
    entry = loaders.store(settings).resolve(role, getattr(getattr(settings, section), key))
    return entry.name, entry.size
