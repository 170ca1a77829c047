"""Builds the voice pipeline (audio in, speech out) and the text pipeline from the settings."""

from __future__ import annotations

from assistant.audio.vad import VadConfig
from assistant.config import Settings
from assistant.llm.sampling import SamplerParams
from assistant.loader import Models
from assistant.pipeline.priority import SpeechFirst
from assistant.pipeline.processor import FrameProcessor
from assistant.pipeline.stages.chunker import ChunkerStage
from assistant.pipeline.stages.llm import LlmStage, ReplyOptions
from assistant.pipeline.stages.sink import AudioSink
from assistant.pipeline.stages.stt import SttStage
from assistant.pipeline.stages.tts import TtsStage
from assistant.pipeline.stages.vad import VadStage


def vad_config(settings: Settings) -> VadConfig:
    """The endpointing parameters of the settings."""
    v = settings.vad
    return VadConfig(
        sample_rate=16000,
        aggressiveness=v.aggressiveness,
        frame_ms=v.frame_ms,
        preroll_ms=v.preroll_ms,
        hangover_ms=v.hangover_ms,
        min_speech_ms=v.min_speech_ms,
        max_utterance_s=v.max_utterance_s,
    )


def reply_options(settings: Settings) -> ReplyOptions:
    """System prompt, sampler parameters, length and stop strings of the settings."""
    llm = settings.llm
    return ReplyOptions(
        llm.system_prompt, SamplerParams.from_settings(llm), llm.max_tokens, llm.stop
    )


def reply_stages(settings: Settings, models: Models, sink: AudioSink) -> list[FrameProcessor]:
    """Transcript in, spoken reply out: LLM -> clause chunker -> TTS (if loaded) -> sink."""
    assert models.llm is not None
    priority = SpeechFirst()
    stages: list[FrameProcessor] = [LlmStage(models.llm, reply_options(settings), priority)]
    if models.tts is not None:
        rate = settings.audio.output_sample_rate
        stages += [ChunkerStage(), TtsStage(models.tts, rate, priority)]
    return [*stages, sink]


def voice_stages(
    settings: Settings, models: Models, source: FrameProcessor, sink: AudioSink
) -> list[FrameProcessor]:
    """Audio in, spoken reply out: source -> VAD -> STT -> LLM -> chunker -> TTS -> sink."""
    assert models.stt is not None
    front: list[FrameProcessor] = [source, VadStage(vad_config(settings)), SttStage(models.stt)]
    return front + reply_stages(settings, models, sink)
