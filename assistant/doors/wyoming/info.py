"""What the Wyoming endpoint tells a client that asks ``describe``: its services and models.

The names of the served models are resolved once, when the endpoint opens (``Served``): the
store checks every file on disk, which is not worth doing again for every request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
from assistant.doors.wyoming.events import BadEvent
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
    voice: str  # the voice of tts.model
    languages: list[str]
    voices: dict[str, str] = field(default_factory=dict)  # tts.voices: name -> language

    @classmethod
    def resolve(cls, settings: Settings) -> Served:
        """Look the configured models up in the store (file checks: call it off the loop)."""
        store = ModelStore(settings.models_dir)
        language = settings.stt.language
        return cls(
            stt=store.resolve("stt", settings.stt.model).name,
            voice=store.resolve("tts", settings.tts.model).name,
            languages=[language] if language and language != "auto" else ["en"],
            voices={store.resolve("tts", v).name: k for k, v in settings.tts.voices.items()},
        )

    @property
    def voice_language(self) -> str:
        """The language of the voice of tts.model, as its name says (``en_US``)."""
        return self.voice.split("-")[1] if self.voice.count("-") >= 2 else "en_US"

    def voice_for(self, name: str | None, language: str | None, speaker: str | None) -> str | None:
        """The ``tts.voices`` language whose voice speaks a request (None: tts.model's voice).

        By ``name`` (any voice in ``info``), else by ``language`` (``en``, ``en_US``, ``en-US``);
        BadEvent naming the voices there are when none fits, or for a ``speaker`` (Piper's
        voices here have one speaker each).
        """
        offered = ", ".join([self.voice, *self.voices])
        if speaker is not None:
            raise BadEvent(f"no speaker {speaker!r}: each voice here has one", "no-such-voice")
        if name is not None:
            if name == self.voice:
                return None
            if name in self.voices:
                return self.voices[name]
            raise BadEvent(f"no voice {name!r}; this server speaks with {offered}", "no-such-voice")
        if language is None:
            return None
        wanted = language.replace("-", "_").lower()
        if wanted in (self.voice_language.lower(), self.voice_language.split("_")[0].lower()):
            return None
        for key in self.voices.values():
            if wanted.split("_")[0] == key.lower().split("_")[0]:
                return key
        raise BadEvent(
            f"no voice for {language!r}; this server speaks with {offered}", "no-such-voice"
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
            TtsVoice(**_about(name, _PIPER, "Piper voice", None), languages=[language])
            for name, language in [(served.voice, served.voice_language), *served.voices.items()]
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
