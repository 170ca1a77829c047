"""What the Wyoming endpoint tells a client that asks ``describe``: its services and models."""

from __future__ import annotations

from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    HandleModel,
    HandleProgram,
    Info,
    TtsProgram,
    TtsVoice,
    WakeModel,
    WakeProgram,
)

from assistant import __version__ as VERSION
from assistant.catalog import ModelStore
from assistant.config import Settings
from assistant.models.wake_word import WAKE_WORDS

_HERE = Attribution(name="assistant", url="https://pypi.org/project/assistant/")
_WHISPER = Attribution(name="faster-whisper", url="https://github.com/SYSTRAN/faster-whisper")
_PIPER = Attribution(name="Piper", url="https://github.com/OHF-Voice/piper1-gpl")
_MICRO = Attribution(name="microWakeWord", url="https://github.com/OHF-Voice/pymicro-wakeword")
_LLAMA = Attribution(name="llama.cpp", url="https://github.com/ggml-org/llama.cpp")


def voice_name(settings: Settings) -> str:
    """The name the loaded Piper voice goes by (its manifest name, or its file's stem)."""
    return ModelStore(settings.models_dir).resolve("tts", settings.tts.model).name


def stt_languages(settings: Settings) -> list[str]:
    """The languages the speech-to-text model is set to hear."""
    language = settings.stt.language
    return [language] if language and language != "auto" else ["en"]


def describe(settings: Settings, chat_model: str) -> Info:
    """The ``info`` answer: asr, tts, handle and wake, with their models and languages."""
    store = ModelStore(settings.models_dir)
    stt = store.resolve("stt", settings.stt.model).name
    voice = voice_name(settings)
    languages = stt_languages(settings)
    asr = AsrProgram(
        name="assistant-asr",
        attribution=_HERE,
        installed=True,
        description="Speech to text with faster-whisper; any rate, width and channels",
        version=VERSION,
        models=[_asr_model(stt, languages)],
        supports_transcript_streaming=True,
    )
    tts = TtsProgram(
        name="assistant-tts",
        attribution=_HERE,
        installed=True,
        description="Piper, spoken clause by clause as the text arrives",
        version=VERSION,
        voices=[_voice(voice)],
        supports_synthesize_streaming=True,
    )
    handle = HandleProgram(
        name="assistant-handle",
        attribution=_HERE,
        installed=True,
        description="Answers with the local chat model, in a conversation per connection",
        version=VERSION,
        models=[_handle_model(chat_model, languages)],
        supports_handled_streaming=True,
    )
    wake = WakeProgram(
        name="assistant-wake",
        attribution=_HERE,
        installed=True,
        description="microWakeWord models from the pymicro-wakeword wheel",
        version=VERSION,
        models=[_wake_model(name) for name in WAKE_WORDS],
    )
    return Info(asr=[asr], tts=[tts], handle=[handle], wake=[wake])


def _asr_model(name: str, languages: list[str]) -> AsrModel:
    return AsrModel(
        name=name,
        attribution=_WHISPER,
        installed=True,
        description="Whisper",
        version=None,
        languages=languages,
    )


def _voice(name: str) -> TtsVoice:
    language = name.split("-")[1] if name.startswith("piper-") and "-" in name[6:] else "en_US"
    return TtsVoice(
        name=name,
        attribution=_PIPER,
        installed=True,
        description="Piper voice",
        version=None,
        languages=[language],
    )


def _wake_model(name: str) -> WakeModel:
    return WakeModel(
        name=name,
        attribution=_MICRO,
        installed=True,
        description="microWakeWord",
        version=None,
        languages=["en"],
        phrase=name.replace("_", " "),
    )


def _handle_model(name: str, languages: list[str]) -> HandleModel:
    return HandleModel(
        name=name,
        attribution=_LLAMA,
        installed=True,
        description="Local chat model",
        version=None,
        languages=languages,
    )
