"""The speech models of a remote backend, chosen by ``stt.backend`` and ``tts.backend``.

models/loaders.py asks here for every backend but "local"; each remote kind is one class
(openai_audio.py, wyoming_audio.py) behind the role's interface and ``Remote``. With
``<role>.fallback = "local"`` the remote model is wrapped so that a failed call is made on the
local model instead (models/fallback.py); ``local`` loads it, on the first failure.
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.models.fallback import FallbackSTT, FallbackTTS
from assistant.models.interfaces import SpeechToText, TextToSpeech
from assistant.models.remote_role import RemoteSpeechToText, RemoteTextToSpeech


def remote_stt(
    settings: Settings, local: Callable[[], SpeechToText] | None = None
) -> RemoteSpeechToText:
    """The speech-to-text model of ``stt.backend`` at ``stt.url`` (with its fallback)."""
    model = server_stt(settings)
    if settings.stt.fallback == "local" and local is not None:
        return FallbackSTT(model, local)
    return model


def remote_tts(
    settings: Settings, local: Callable[[], TextToSpeech] | None = None
) -> RemoteTextToSpeech:
    """The voice of ``tts.backend`` at ``tts.url`` (with its fallback)."""
    model = server_tts(settings)
    if settings.tts.fallback == "local" and local is not None:
        return FallbackTTS(model, local)
    return model


def server_stt(settings: Settings) -> RemoteSpeechToText:
    """The speech-to-text model of ``stt.backend`` (openai or wyoming) at ``stt.url``."""
    s = settings.stt
    if s.backend == "openai":
        from assistant.models.openai_audio import OpenAISTT

        return OpenAISTT(s, s.language, s.max_text_chars)
    if s.backend == "wyoming":
        from assistant.models.wyoming_audio import WyomingSTT

        return WyomingSTT(s, s.language, s.max_text_chars)
    raise ConfigError(f'stt.backend "{s.backend}" is not one of local, openai, wyoming')


def server_tts(settings: Settings) -> RemoteTextToSpeech:
    """The voice of ``tts.backend`` (openai or wyoming) at ``tts.url``."""
    s = settings.tts
    if s.backend == "openai":
        from assistant.models.openai_audio import OpenAITTS

        return OpenAITTS(s, s.voice, s.max_audio_s)
    if s.backend == "wyoming":
        from assistant.models.wyoming_audio import WyomingTTS

        return WyomingTTS(s, s.voice, s.max_audio_s)
    raise ConfigError(f'tts.backend "{s.backend}" is not one of local, openai, wyoming')
