"""The speech models of a remote backend, chosen by ``stt.backend`` and ``tts.backend``.

models/loaders.py asks here for every backend but "local"; each remote kind is one class
(openai_audio.py, wyoming_audio.py) behind the role's interface.
"""

from __future__ import annotations

from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.models.interfaces import SpeechToText, TextToSpeech


def remote_stt(settings: Settings) -> SpeechToText:
    """The speech-to-text model of ``stt.backend`` (openai or wyoming) at ``stt.url``."""
    s = settings.stt
    if s.backend == "openai":
        from assistant.models.openai_audio import OpenAISTT

        return OpenAISTT(s, s.language, s.max_text_chars)
    if s.backend == "wyoming":
        from assistant.models.wyoming_audio import WyomingSTT

        return WyomingSTT(s, s.language, s.max_text_chars)
    raise ConfigError(f'stt.backend "{s.backend}" is not one of local, openai, wyoming')


def remote_tts(settings: Settings) -> TextToSpeech:
    """The voice of ``tts.backend`` (openai or wyoming) at ``tts.url``."""
    s = settings.tts
    if s.backend == "openai":
        from assistant.models.openai_audio import OpenAITTS

        return OpenAITTS(s, s.voice, s.max_audio_s)
    if s.backend == "wyoming":
        from assistant.models.wyoming_audio import WyomingTTS

        return WyomingTTS(s, s.voice, s.max_audio_s)
    raise ConfigError(f'tts.backend "{s.backend}" is not one of local, openai, wyoming')
