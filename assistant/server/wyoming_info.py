"""What the Wyoming endpoint tells a client that asks ``describe``: its services and models.

The names of the served models are resolved once, when the endpoint opens (``Served``): the
store checks every file on disk, which is not worth doing again for every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Served:
    """The speech models the endpoint serves, by the names clients know them by."""

    stt: str
    voice: str
    languages: list[str]

    @classmethod
    def resolve(cls, settings: Settings) -> Served:
        """Look the configured models up in the store (file checks: call it off the loop)."""
        store = ModelStore(settings.models_dir)
        language = settings.stt.language
        return cls(
            stt=store.resolve("stt", settings.stt.model).name,
            voice=store.resolve("tts", settings.tts.model).name,
            languages=[language] if language and language != "auto" else ["en"],
        )


def _about(
    name: str, attribution: Attribution, description: str, version: str | None
) -> dict[str, Any]:
    """The fields every Wyoming artifact (a program or a model) has."""
    return {
        "name": name,
        "attribution": attribution,
        "installed": True,
        "description": description,
        "version": version,
    }


def describe(served: Served, chat_model: str) -> Info:
    """The ``info`` answer: asr, tts, handle and wake, with their models and languages."""
    languages = served.languages
    voice_language = served.voice.split("-")[1] if served.voice.count("-") >= 2 else "en_US"
    asr = AsrProgram(
        **_about(
            "assistant-asr", _HERE, "Speech to text with faster-whisper; any audio format", VERSION
        ),
        models=[AsrModel(**_about(served.stt, _WHISPER, "Whisper", None), languages=languages)],
        supports_transcript_streaming=True,
    )
    tts = TtsProgram(
        **_about(
            "assistant-tts", _HERE, "Piper, spoken clause by clause as the text arrives", VERSION
        ),
        voices=[
            TtsVoice(
                **_about(served.voice, _PIPER, "Piper voice", None), languages=[voice_language]
            )
        ],
        supports_synthesize_streaming=True,
    )
    handle = HandleProgram(
        **_about(
            "assistant-handle",
            _HERE,
            "The local chat model, a conversation per connection",
            VERSION,
        ),
        models=[
            HandleModel(**_about(chat_model, _LLAMA, "Local chat model", None), languages=languages)
        ],
        supports_handled_streaming=True,
    )
    wake = WakeProgram(
        **_about("assistant-wake", _HERE, "microWakeWord models from pymicro-wakeword", VERSION),
        models=[
            WakeModel(
                **_about(name, _MICRO, "microWakeWord", None),
                languages=["en"],
                phrase=name.replace("_", " "),
            )
            for name in WAKE_WORDS
        ],
    )
    return Info(asr=[asr], tts=[tts], handle=[handle], wake=[wake])
