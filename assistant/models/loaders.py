"""The one place models are loaded from the settings, each role behind its interface.

``load_models`` loads what one command needs, side by side (`assistant chat`, `ask`); the
hub (models/hub.py) loads the same roles one by one, on first use, for a server or a kiosk.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from assistant.catalog import ModelStore
from assistant.config import Settings
from assistant.errors import ModelError, UserError
from assistant.hardware import gpu_layers, stt_device
from assistant.llm.errors import LlmError
from assistant.models.chat import chat_model
from assistant.models.interfaces import (
    EndOfTurn,
    LanguageModel,
    SpeechToText,
    TextToSpeech,
    VisionModel,
)
from assistant.models.llava import LlamaVisionModel
from assistant.models.names import chat_model_path
from assistant.models.piper import PiperTTS
from assistant.models.remote import RemoteText
from assistant.models.remote_audio import remote_stt, remote_tts
from assistant.models.seeing import eyes_for
from assistant.models.smart_turn import SmartTurn
from assistant.models.text import LocalText, NotAvailable, TextBackend
from assistant.models.whisper import WhisperSTT
from assistant.vision import vision_models_dir
from assistant.vision.catalog import resolve_vision

log = logging.getLogger(__name__)


@dataclass
class Models:
    """The loaded models; a role not asked for is None."""

    stt: SpeechToText | None = None
    llm: LanguageModel | None = None
    tts: TextToSpeech | None = None
    turn: EndOfTurn | None = None  # the end-of-turn model (with vad.end_of_turn = "model")
    voices: dict[str, TextToSpeech] = field(default_factory=dict)  # language -> voice


def stt_threads(settings: Settings) -> int:
    """``stt.threads``, or when 0 one per core, less one for the rest of the voice pipeline.

    With ``vad.end_of_turn = "model"`` recognition and the end-of-turn model run in the same
    pause; with ``stt.stream_ms`` recognition runs while the user speaks, beside the capture,
    the front end and the VAD. Measured on 2 cores (tiny.en, 3 s questions): one thread
    transcribes in 79 ms on a quiet machine and 100-145 ms beside the model, two threads in
    107 ms and 175-215 ms, as they wait on each other for the core the model holds. A minute
    of audio takes 1.8 s on one thread instead of 1.2 s on two.
    """
    if settings.stt.threads:
        return settings.stt.threads
    cores = os.cpu_count() or 1
    shared = settings.vad.end_of_turn == "model" or settings.stt.stream_ms > 0
    return max(1, cores - 1) if shared else cores


def load_stt(settings: Settings, store: ModelStore) -> SpeechToText:
    """The speech-to-text model of ``stt.backend``: here, ``stt.model``; else its server's.

    A remote one with ``stt.fallback = "local"`` loads ``stt.model`` on its first failure.
    """
    if settings.stt.backend != "local":
        return remote_stt(settings, lambda: load_local_stt(settings, store))
    return load_local_stt(settings, store)


def load_local_stt(settings: Settings, store: ModelStore) -> WhisperSTT:
    """The speech-to-text model named by ``stt.model``, on this machine."""
    s = settings.stt
    model = store.resolve("stt", s.model)
    return WhisperSTT(
        model.path,
        s.language,
        s.beam_size,
        s.compute_type,
        stt_threads(settings),
        s.no_speech_threshold,
        s.log_prob_threshold,
        s.window_s,
        stt_device(s.device),
    )


def load_turn(settings: Settings, store: ModelStore) -> SmartTurn | None:
    """The end-of-turn model of ``vad.turn_model``; None with ``vad.end_of_turn = "silence"``."""
    if settings.vad.end_of_turn != "model":
        return None
    return SmartTurn(store.resolve("turn", settings.vad.turn_model).path)


def load_tts(settings: Settings, store: ModelStore) -> TextToSpeech:
    """The voice of ``tts.backend``: here, ``tts.model``; else its server's.

    A remote one with ``tts.fallback = "local"`` loads ``tts.model`` on its first failure.
    """
    if settings.tts.backend != "local":
        return remote_tts(settings, lambda: load_local_tts(settings, store))
    return load_local_tts(settings, store)


def load_local_tts(settings: Settings, store: ModelStore) -> PiperTTS:
    """The voice named by ``tts.model``, on this machine."""
    s = settings.tts
    model = store.resolve("tts", s.model)
    return PiperTTS(
        model.path,
        s.speaker_id,
        s.length_scale,
        s.noise_scale,
        s.noise_w_scale,
        s.volume,
        s.threads,
        s.memory_arena,
    )


def load_voices(settings: Settings, store: ModelStore) -> dict[str, TextToSpeech]:
    """The voices of ``tts.voices``, by language code."""
    s = settings.tts
    voices: dict[str, TextToSpeech] = {}
    for language, name in s.voices.items():
        model = store.resolve("tts", name)
        voices[language] = PiperTTS(
            model.path, None, s.length_scale, s.noise_scale, s.noise_w_scale, s.volume,
            s.threads, s.memory_arena,
        )  # fmt: skip
    return voices


def load_vision(settings: Settings, store: ModelStore | None = None) -> VisionModel:
    """The vision model of ``vision.backend``: ``vision.model`` here, or its server's.

    Vision models live in their own folders (see vision/catalog.py), not in ``store``. A
    local one that is unset is a ModelError saying how to get one; a remote one that cannot
    be reached, a RemoteFailed.
    """
    s = settings.vision
    if s.backend == "openai":
        return _remote_vision(settings)
    return _local_vision(settings)


def _remote_vision(settings: Settings) -> VisionModel:
    """The vision model at ``vision.url``, with the local one for what it fails.

    That is with ``vision.fallback = "local"`` (fallback_vision.py), whose settings name the
    remote model, so nothing is asked of the server now.
    """
    from assistant.models.fallback_vision import FallbackVision
    from assistant.models.remote_vision import RemoteVision

    remote = RemoteVision.reach(settings.vision)
    if settings.vision.fallback != "local":
        return remote
    return FallbackVision(remote, lambda: _local_vision(settings))


def _local_vision(settings: Settings) -> LlamaVisionModel:
    """The vision model of ``vision.model``, on this machine."""
    s = settings.vision
    files = resolve_vision(s, vision_models_dir(settings))
    return LlamaVisionModel.load(
        files.model,
        files.mmproj,
        s.handler,
        s.n_ctx,
        s.threads,
        s.max_side,
        gpu_layers("vision", s.gpu_layers),
    )


# role -> its loader, for the roles a hub loads on first use
LOADERS: dict[str, Callable[[Settings, ModelStore], Any]] = {
    "stt": load_stt,
    "tts": load_tts,
    "turn": load_turn,
    "vision": load_vision,
    "voices": load_voices,
}


def store(settings: Settings) -> ModelStore:
    """The model store of the settings (``models_dir``, else the repository's models)."""
    return ModelStore(settings.models_dir)


async def load_text(settings: Settings) -> TextBackend:
    """The text model a server shares.

    The remote one of ``llm.backend = "openai"`` (reached now), or ``llm.model`` with
    ``server.pool_size`` contexts.
    """
    if settings.llm.backend == "openai":
        return await RemoteText.connect(settings)
    return await LocalText.load(settings, store(settings).resolve("llm", settings.llm.model).path)


def check_swappable(remote: bool) -> None:
    """NotAvailable with a remote backend: its server chooses what it serves."""
    if remote:
        raise NotAvailable(
            'models are loaded on the remote server with llm.backend = "openai"; '
            "choose one with llm.remote_model"
        )


class ModelLoadFailed(UserError):
    """A chat model a client chose is offered but does not load."""


async def load_chat_model(settings: Settings, name: str, layers: int | None = None) -> LocalText:
    """The chat model ``name`` as a client asked for it (``POST /api/models/load``).

    ``layers``: layers offloaded to a GPU instead of ``llm.gpu_layers``. ModelError for a name
    that is not offered (models/names.py), ModelLoadFailed for a file that does not load.
    """
    path = chat_model_path(settings, name)
    try:
        return await LocalText.load(settings, path, layers)
    except (LlmError, ModelError):
        # The reason names the file, which a client that gave a name should not learn.
        raise ModelLoadFailed(
            "that model could not be loaded (not a GGUF chat model llama.cpp can read); "
            "the model in use is unchanged"
        ) from None


def load_models(
    settings: Settings, roles: tuple[str, ...] = ("stt", "llm", "tts"), image: Path | None = None
) -> Models:
    """Resolve every role first (so a missing file fails fast), then load them side by side.

    The chat model (models/chat.py) hands turns with a picture to the vision model: every turn
    with ``image``, camera turns when ``vision.model`` is set (see models.seeing.eyes_for).
    """
    store = ModelStore(settings.models_dir)
    for role in roles:
        if getattr(settings, role).backend == "local":
            store.resolve(role, getattr(settings, role).model)
    listens = "stt" in roles  # a voice conversation: it needs to know when a turn ends
    if listens and settings.vad.end_of_turn == "model":
        store.resolve("turn", settings.vad.turn_model)
    eyes = eyes_for(settings, image) if "llm" in roles else None
    if eyes is not None and settings.vision.backend == "local":
        resolve_vision(settings.vision, vision_models_dir(settings))
    loaders = {"stt": load_stt, "tts": load_tts}
    with ThreadPoolExecutor(max_workers=len(roles) + 2) as pool:
        # The vision model loads beside the chat model, which waits for it (chat.py).
        vision = pool.submit(load_vision, settings) if eyes is not None else None
        futures: dict[str, Future[Any]] = {
            role: pool.submit(loaders[role], settings, store) for role in roles if role != "llm"
        }
        if "llm" in roles:
            futures["llm"] = pool.submit(chat_model, settings, None, eyes, vision)
        turn = pool.submit(load_turn, settings, store) if listens else None
        loaded = {role: future.result() for role, future in futures.items()}
    return Models(
        stt=cast(SpeechToText | None, loaded.get("stt")),
        llm=cast(LanguageModel | None, loaded.get("llm")),
        tts=cast(TextToSpeech | None, loaded.get("tts")),
        turn=turn.result() if turn is not None else None,
        voices=load_voices(settings, store) if "tts" in roles else {},
    )
