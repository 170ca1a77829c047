"""Other languages: the detected language is reported, and the reply is asked for in it.

The reply is spoken by that language's voice.

What is exercised here, with the models at hand (no multilingual Whisper model and no voice
other than the English default can be had offline): `stt.language = "auto"` through the real
pipeline on tiny.en (which reports English); the reply instruction and the voice routing for a
German turn, with the German voice played by the default Piper voice under tts.voices; the
warning for a language without a voice. Not exercised: detection of a non-English language.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import config
from assistant.models.loaders import Models
from assistant.models.piper import PiperTTS
from assistant.pipeline.conversation import Conversation
from assistant.pipeline.frames import TranscriptFrame
from assistant.pipeline.stages.reply_steps import options_for
from assistant.pipeline.stages.sink import AudioSink
from assistant.pipeline.stages.tts import TtsStage
from assistant.types import Pcm16
from tests.conftest import run_cli


class Recording:
    """A voice that remembers what it was asked to say (and says it with ``voice``)."""

    def __init__(self, voice: PiperTTS) -> None:
        self.voice, self.said = voice, []  # type: ignore[var-annotated]
        self.sample_rate = voice.sample_rate

    def synthesize(self, text: str) -> Iterator[Pcm16]:
        self.said.append(text)
        return self.voice.synthesize(text)


def test_auto_language_reports_what_was_heard(question_wav: Path) -> None:
    done = run_cli("--set", 'stt.language="auto"', "chat", "--input", str(question_wav),
                   "--no-realtime", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    turn = json.loads(done.stdout.splitlines()[-1])
    assert turn["language"] == "en" and "capital" in turn["transcript"].lower()


def test_a_german_turn_is_answered_in_german_by_the_german_voice(
    models: Models, tts: PiperTTS
) -> None:
    german = Recording(tts)
    settings = config.load({"stt": {"language": "auto"}, "tools": {"enabled": False}})
    with_voice = dataclasses.replace(models, voices={"de": german})  # type: ignore[dict-item]
    conversation = Conversation(settings, with_voice, None, AudioSink())
    frame = TranscriptFrame(
        turn_id=1, text="Wie spät ist es in Berlin?", speech_end_wall=time.monotonic(),
        language="de",
    )  # fmt: skip
    assert options_for(conversation.llm.options, frame).system_prompt.endswith("Answer in German.")
    asyncio.run(conversation.run([frame]))
    assert german.said and "".join(german.said).strip()  # every clause in the German voice
    english = dataclasses.replace(frame, language="en", turn_id=2)
    assert not options_for(conversation.llm.options, english).system_prompt.endswith("German.")


def test_a_language_without_a_voice_uses_the_default_one_with_one_warning(
    tts: PiperTTS, caplog: pytest.LogCaptureFixture
) -> None:
    german = Recording(tts)
    stage = TtsStage(tts, 24000, voices={"de": german})  # type: ignore[dict-item]
    with caplog.at_level(logging.WARNING):
        assert stage._voice("de") is german
        assert stage._voice("en") is tts and stage._voice("") is tts
        assert stage._voice("fr") is tts and stage._voice("fr") is tts
    warnings = [r.getMessage() for r in caplog.records if "no voice" in r.getMessage()]
    assert warnings == [
        "no voice for language 'fr' (tts.voices); replies in it use the default voice"
    ]
