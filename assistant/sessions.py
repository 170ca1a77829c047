"""Conversations end to end: a spoken file, a typed question, or the live microphone."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from assistant.audio.wav import AtomicWavWriter, check_writable
from assistant.config import Settings
from assistant.convert.audio_decode import decode_audio
from assistant.models.loaders import Models, load_models
from assistant.pipeline.conversation import Conversation, Observers
from assistant.pipeline.events import AudioStatus
from assistant.pipeline.stages.sink import AudioSink, WavSink
from assistant.pipeline.stages.source import PcmSource
from assistant.pipeline.turns import TurnReport
from assistant.pipeline.voice import Live

STT_RATE = 16000  # Hertz: what the VAD and Whisper take


@contextlib.contextmanager
def _output(path: Path | None, sample_rate: int, paced: bool = False) -> Iterator[AudioSink]:
    """A sink writing to ``path`` (atomically) or, without a path, discarding audio."""
    if path is None:
        yield AudioSink(paced=paced)
        return
    with AtomicWavWriter(path, sample_rate) as writer:
        yield WavSink(writer, paced)


async def chat_file(
    settings: Settings,
    input_path: Path,
    output: Path | None = None,
    realtime: bool = True,
    observers: Observers | None = None,
    models: Models | None = None,
    image: Path | None = None,
) -> list[TurnReport]:
    """Run every utterance of an audio file through the voice pipeline, one turn each.

    With ``image`` every question is about that picture (load_models explains).
    """
    pcm = decode_audio(input_path, STT_RATE)  # bad input fails here, before anything is written
    if output is not None:
        check_writable(output)
    models = models or load_models(settings, image=image)
    with _output(output, settings.audio.output_sample_rate, realtime) as sink:
        source = PcmSource(pcm, STT_RATE, realtime=realtime)
        conversation = Conversation(settings, models, source, sink, observers=observers)
        await conversation.run()
    return conversation.recorder.completed


async def ask_text(
    settings: Settings,
    text: str,
    speak: Path | None = None,
    observers: Observers | None = None,
    models: Models | None = None,
    image: Path | None = None,
) -> TurnReport:
    """Answer one typed question; with ``speak`` the spoken reply is written as a WAV file.

    With ``image`` the question is about that picture.
    """
    if speak is not None:
        check_writable(speak)
    models = models or load_models(settings, ("llm", "tts") if speak else ("llm",), image)
    with _output(speak, settings.audio.output_sample_rate) as sink:
        conversation = Conversation(settings, models, None, sink, observers=observers)
        await conversation.start()
        await conversation.say(text)
        await conversation.finish()
    return conversation.recorder.completed[0]


async def chat_live(
    settings: Settings,
    observers: Observers | None = None,
    push_to_talk: Callable[[], bool] | None = None,
    image: Path | None = None,
) -> None:
    """Talk on the default (or configured) microphone and speaker until Ctrl+C.

    ``push_to_talk``, when given, says whether the user holds the microphone open.
    """
    from assistant.pipeline.stages.live import local_devices

    mic_device, mic, speaker = local_devices(settings.audio, STT_RATE)  # before loading models
    models = load_models(settings, image=image)
    live = Live(speaker.player, push_to_talk)
    conversation = Conversation(settings, models, mic, speaker, observers=observers, live=live)
    where = f"listening on {mic_device.name!r}; speaking on {speaker.player.device.name!r}"
    conversation.bus.publish(AudioStatus(device="both", message=where, level="info"))
    await conversation.run()
