"""The model hub: every model a long-running process (server, kiosk) serves with, loaded once.

The text model (local, with its pool of contexts, or a remote server) is loaded at start, and
swapped, unloaded and loaded again as chat_slot.py says; the speech models, the end-of-turn
model and the vision model load on first use, once, behind a lock each, and their weights are
shared by every request and conversation. A conversation gets a chat context of its own on the
shared weights (``conversation``, built by models/chat.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import numpy as np

from assistant.concurrency import finish_in_thread, run_to_the_end
from assistant.config import Settings
from assistant.heap import trim_heap
from assistant.models import loaders

# InUse and NoModel are re-exported: they were first published here.
from assistant.models.chat_slot import ChatSlot
from assistant.models.chat_slot import InUse as InUse
from assistant.models.chat_slot import NoModel as NoModel
from assistant.models.fair_share import audio_chunks, joined, speech_pieces, spoken
from assistant.models.interfaces import (
    EndOfTurn,
    Pcm16,
    SpeechToText,
    TextToSpeech,
    Transcript,
    VisionModel,
    VoiceModel,
)
from assistant.models.seeing import Eyes
from assistant.models.text import TextBackend


class ModelHub(ChatSlot):
    """The process's models, each loaded lazily and once (the chat model's life: ChatSlot)."""

    def __init__(self, settings: Settings, text: TextBackend | None) -> None:
        super().__init__(settings, text)
        self._loaded: dict[str, Any] = {}  # role -> model, for stt, tts, turn and vision
        self.on_disk: dict[str, tuple[str, int | None]] = {}  # role -> (name, bytes), at load
        self._locks = {role: asyncio.Lock() for role in ("stt", "tts", "turn", "vision", "voices")}
        self.vision_turn = asyncio.Lock()  # the vision model answers one question at a time

    @classmethod
    async def load(cls, settings: Settings) -> ModelHub:
        """The hub with the text model of the settings loaded (or its remote server reached)."""
        return cls(settings, await loaders.load_text(settings))

    async def _model(self, role: str) -> Any:
        """The model of ``role`` (stt, tts, turn, vision, voices), loaded on first use."""
        if role in self._loaded:  # without queueing for the lock, which speech turns take too
            return self._loaded[role]
        async with self._locks[role]:
            if role not in self._loaded:
                self._loaded[role] = await asyncio.to_thread(
                    loaders.LOADERS[role], self.settings, loaders.store(self.settings)
                )
                model = self._loaded[role]
                if model is not None and role != "voices":  # for /health, once
                    self.on_disk[role] = await asyncio.to_thread(
                        _on_disk, self.settings, role, model
                    )
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

    async def vision(self) -> VisionModel:
        """The vision model of ``vision.model`` (ModelError when unset)."""
        return await self._model("vision")  # type: ignore[no-any-return]

    @property
    def loaded_vision(self) -> VisionModel | None:
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
            vision = None
            if eyes is not None:
                sees = eyes.image is not None or eyes.camera is not None
                vision = await self.vision() if sees else self.loaded_vision
            chat = await self.text.voice_model(eyes, vision)
            voices = await self._model("voices")
            yield loaders.Models(stt=stt, llm=chat, tts=tts, turn=turn, voices=voices)
        finally:
            if chat is not None:  # closing waits for a reply still running on its context
                await run_to_the_end(chat.close)
            self.conversations -= 1
            self.last_used = time.monotonic()
            asyncio.get_running_loop().run_in_executor(None, trim_heap)  # its buffers go back

    async def close(self) -> None:
        """Free the models, each once the calls still running on it have ended."""
        await self.close_text()
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


def _on_disk(settings: Settings, role: str, model: Any) -> tuple[str, int | None]:
    """The name and size on disk of ``model``, of ``role`` (vision models: the name only)."""
    if role not in _CONFIGURED:  # the vision model: a remote one says what it asks for
        s = settings.vision
        return (s.model if s.backend == "local" else model.name) or role, None
    section, key = _CONFIGURED[role].split(".")
    if getattr(getattr(settings, section), "backend", "local") != "local":  # on its server
        return getattr(settings, section).remote_model or section, None
    entry = loaders.store(settings).resolve(role, getattr(getattr(settings, section), key))
    return entry.name, entry.size
