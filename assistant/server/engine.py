"""What the server serves with: the text backend, speech and vision models, admission, metrics.

Admission (``admission.py``) counts the replies that run and wait; the chat model is swapped
only while none does and no voice session holds a context on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import numpy as np

from assistant import config
from assistant.catalog import ModelStore
from assistant.concurrency import iterate_in_thread, run_to_the_end
from assistant.config import Settings
from assistant.errors import ModelError, UserError
from assistant.heap import trim_heap
from assistant.interfaces import LanguageModel, Pcm16, Transcript
from assistant.llm.errors import LlmError
from assistant.loader import Models, load_stt, load_tts, load_turn
from assistant.pipeline.turns import TurnReport
from assistant.server.admission import Admission
from assistant.server.metrics import Metrics
from assistant.server.model_names import chat_model_path
from assistant.server.pictures import decode_picture
from assistant.server.text import LocalText, NotAvailable, TextBackend, Usage, VoiceModel
from assistant.server.upstream import RemoteText
from assistant.vision import LlamaVisionModel, load_vision
from assistant.vision.seeing import Eyes, SeeingChatModel


class NoModel(Exception):
    """No chat model is loaded (it was unloaded, or loading another failed)."""


class InUse(Exception):
    """The model cannot be swapped while generations or voice sessions use it."""


class Engine:
    """The text backend and everything requests share."""

    def __init__(
        self, text: TextBackend, max_queue: int = 16, settings: Settings | None = None
    ) -> None:
        self._text: TextBackend | None = text
        self.metrics = Metrics.create()
        self.admission = Admission(text.max_concurrent, max_queue, self.metrics)
        self.settings = settings or config.load()
        self._speech: dict[str, Any] = {}  # role -> loaded STT / TTS model, made on first use
        self._speech_locks = {role: asyncio.Lock() for role in ("stt", "tts", "turn")}
        self._vision: LlamaVisionModel | None = None
        self._vision_lock = asyncio.Lock()  # one load
        self._vision_turn = asyncio.Lock()  # one answer at a time
        self.voice_sessions = 0
        self.kiosk: dict[str, Any] | None = None  # the kiosk's status, when one runs beside
        self._swap_lock = asyncio.Lock()

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
    def loaded(self) -> bool:
        """Whether a chat model is loaded."""
        return self._text is not None

    @property
    def remote(self) -> bool:
        """Whether text comes from another server (``llm.backend = "openai"``)."""
        return self._text is not None and self._text.backend == "openai"

    async def swap(self, name: str | None) -> None:
        """Load the chat model ``name`` in place of the current one, or with None unload it.

        The new model loads before the old one is released, so a failed load leaves the old
        one serving. Raises InUse while requests or voice sessions use the model, ModelError
        for a name that is not offered (``model_names``), UserError for a file that does not
        load, NotAvailable with a remote backend (its server chooses what it serves).
        """
        if self.remote:
            raise NotAvailable(
                'models are loaded on the remote server with llm.backend = "openai"; '
                "choose one with llm.remote_model"
            )
        async with self._swap_lock:
            self._check_unused()
            new = await self._load_local(name) if name is not None else None
            try:
                self._check_unused()  # requests may have started during the load
            except InUse:
                if new is not None:
                    await new.close()
                raise
            old, self._text = self._text, new
            if old is not None:
                await old.close()

    def _check_unused(self) -> None:
        if self.admission.active or self.voice_sessions:
            raise InUse("the model is in use; retry when its requests and voice sessions end")

    async def _load_local(self, name: str) -> LocalText:
        path = chat_model_path(self.settings, name)
        try:
            return await LocalText.load(self.settings, path)
        except (LlmError, ModelError):
            # The reason names the file, which a client that gave a name should not learn.
            raise UserError(
                "that model could not be loaded (not a GGUF chat model llama.cpp can read); "
                "the model in use is unchanged"
            ) from None

    @classmethod
    async def load(cls, settings: Settings) -> Engine:
        """Connect to the remote model of ``llm.backend = "openai"``, or load the local one."""
        if settings.llm.backend == "openai":
            text: TextBackend = await RemoteText.connect(settings)
        else:
            text = await LocalText.load(settings)
        return cls(text, settings.server.max_queue, settings)

    async def transcribe(self, pcm: Pcm16) -> Transcript:
        """Speech to text of 16 kHz mono audio (the model loads on first use)."""
        async with self._speech_locks["stt"]:
            stt = await self._speech_model("stt", load_stt)
            return await asyncio.to_thread(stt.transcribe, pcm.astype(np.float32) / 32768.0)

    async def speak(self, text: str) -> tuple[Pcm16, int]:
        """Text to speech: mono int16 samples and their rate."""
        async with self._speech_locks["tts"]:
            tts = await self._speech_model("tts", load_tts)
            pieces = await asyncio.to_thread(lambda: list(tts.synthesize(text)))
        return (np.concatenate(pieces) if pieces else np.zeros(0, np.int16)), tts.sample_rate

    async def speech_models(self) -> tuple[Any, Any, Any]:
        """Speech to text, text to speech and the end-of-turn model, each loaded on first use.

        The end-of-turn model is None with ``vad.end_of_turn = "silence"``.
        """
        loaded = []
        for role, loader in (("stt", load_stt), ("tts", load_tts), ("turn", load_turn)):
            async with self._speech_locks[role]:
                loaded.append(await self._speech_model(role, loader))
        return loaded[0], loaded[1], loaded[2]

    @contextlib.asynccontextmanager
    async def conversation(self, eyes: Eyes | None = None) -> AsyncIterator[Models]:
        """The models of one live conversation, for as long as it lasts.

        A chat context of its own (closed after), the shared speech models and, with
        ``eyes``, the vision model for turns with a picture.

        The conversation counts as a voice session while it lasts, so the chat model is not
        unloaded under it. The vision model loads now when ``eyes`` can already see (an image
        or a camera), else when a picture arrives (``SeeingChatModel.vision`` is set then).
        """
        self.voice_sessions += 1
        self.metrics.voice_sessions.inc()
        chat: VoiceModel | None = None
        try:
            stt, tts, turn = await self.speech_models()
            chat = await self.text.voice_model()
            llm: LanguageModel = chat
            if eyes is not None:
                sees = eyes.image is not None or eyes.camera is not None
                llm = SeeingChatModel(chat, await self.vision() if sees else self._vision, eyes)
            yield Models(stt=stt, llm=llm, tts=tts, turn=turn)
        finally:
            if chat is not None:  # closing waits for a reply still running on its context
                await run_to_the_end(chat.close)
            self.voice_sessions -= 1
            self.metrics.voice_sessions.dec()
            asyncio.get_running_loop().run_in_executor(None, trim_heap)  # its buffers go back

    def record_turn(self, report: TurnReport) -> None:
        """Count a finished voice turn in the metrics, then give its freed memory back."""
        self.metrics.voice_turns.inc()
        v2v = report.timings_ms().get("voice_to_voice")
        if v2v is not None:
            self.metrics.voice_to_voice.observe(v2v / 1000)
        asyncio.get_running_loop().run_in_executor(None, trim_heap)

    async def _speech_model(self, role: str, loader: Any) -> Any:
        if role not in self._speech:
            store = ModelStore(self.settings.models_dir)
            self._speech[role] = await asyncio.to_thread(loader, self.settings, store)
        return self._speech[role]

    @property
    def loaded_vision(self) -> LlamaVisionModel | None:
        """The vision model, when one has been loaded."""
        return self._vision

    async def vision(self) -> LlamaVisionModel:
        """The vision model of ``vision.model`` (loaded on first use; ModelError when unset)."""
        async with self._vision_lock:
            if self._vision is None:
                self._vision = await asyncio.to_thread(load_vision, self.settings)
            return self._vision

    async def see(
        self,
        picture: str,
        question: str,
        max_tokens: int,
        temperature: float,
        usage: Usage,
    ) -> AsyncGenerator[str, None]:
        """Stream the vision model's answer to ``question`` about ``picture``.

        ``picture`` is as the request gave it (base64 or a ``data:`` URI); decoding it, like
        every other blocking step, happens off the event loop. Answers take turns here, on the
        loop, rather than holding worker threads while they wait; each answer's token counts
        land in ``usage``.
        """
        limit = self.settings.server.max_image_pixels
        image = await asyncio.to_thread(decode_picture, picture, limit)
        vision = await self.vision()
        async with self._vision_turn:
            prepared = await asyncio.to_thread(vision.prepare, image)
            cancel = threading.Event()
            stream = iterate_in_thread(
                lambda: vision.answer(prepared, question, max_tokens, temperature, cancel),
                cancel=cancel,
                buffer=8,
            )
            try:
                async with contextlib.aclosing(stream):
                    async for piece in stream:
                        yield piece
            finally:  # the worker has ended: these are this answer's counts
                usage.prompt_tokens = vision.stats.prompt_tokens
                usage.completion_tokens = vision.stats.completion_tokens

    async def close(self) -> None:
        """Free the models, each once the calls still running on it have ended."""
        async with self._swap_lock:
            if self._text is not None:
                await self._text.close()
        if self._vision is not None:
            async with self._vision_turn:  # an answer still streaming holds it
                self._vision.close()
