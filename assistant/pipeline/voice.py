"""Builds the voice pipeline (audio in, speech out) and the text pipeline from the settings."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from assistant.audio.gate import GateConfig
from assistant.audio.playback import Player
from assistant.audio.vad import VadConfig
from assistant.config import Settings
from assistant.llm.sampling import SamplerParams
from assistant.models.loaders import Models
from assistant.pipeline.context import ConversationContext
from assistant.pipeline.priority import SpeechFirst
from assistant.pipeline.processor import FrameProcessor
from assistant.pipeline.stages.chunker import ChunkerStage, ClauseSplitter
from assistant.pipeline.stages.frontend import FrontEndConfig, FrontEndStage
from assistant.pipeline.stages.heard import HeardStage
from assistant.pipeline.stages.hold import HoldStage
from assistant.pipeline.stages.llm import LlmStage, ReplyOptions
from assistant.pipeline.stages.sink import AudioSink
from assistant.pipeline.stages.stt import SttStage
from assistant.pipeline.stages.tentative import MERGE_EXTRA_MS
from assistant.pipeline.stages.tts import TtsStage
from assistant.pipeline.stages.vad import VadStage
from assistant.pipeline.turn_fusion import TurnFusion
from assistant.pipeline.turn_taking import TurnBoard, TurnTaking
from assistant.pipeline.turns import TurnLedger
from assistant.tools.policy import ToolPolicy

OVER_FLOOR_DB = 6.0  # with the end-of-turn model: pauses begin at the last sound (see audio/vad)

log = logging.getLogger(__name__)


def vad_config(settings: Settings, live: bool = False) -> VadConfig:
    """The endpointing parameters of the settings.

    With the end-of-turn model the segmenter's own hangover is the long limit, and it reports
    the pause at ``turn_short_ms`` and every ``turn_recheck_ms`` for the model to decide. On
    ``live`` audio, which passes the noise gate, a frame quieter than the gate's threshold ends
    speech as well: a pause then begins where the last word fades under it.
    """
    v = settings.vad
    model = v.end_of_turn == "model"
    return VadConfig(
        sample_rate=16000,
        aggressiveness=v.aggressiveness,
        frame_ms=v.frame_ms,
        preroll_ms=v.preroll_ms,
        hangover_ms=v.turn_long_ms if model else v.hangover_ms,
        min_speech_ms=v.min_speech_ms,
        max_utterance_s=v.max_utterance_s,
        speculate_ms=v.speculate_ms,
        short_ms=v.turn_short_ms if model else 0,
        recheck_ms=v.turn_recheck_ms,
        merge_ms=v.turn_merge_ms + MERGE_EXTRA_MS if model else 0,
        over_floor_db=OVER_FLOOR_DB if model else 0.0,
        voiced_min_dbfs=settings.audio.gate_threshold_dbfs if model and live else -100.0,
        progress_ms=settings.stt.stream_ms,
    )


def turn_taking(settings: Settings, models: Models) -> TurnTaking | None:
    """How turns end: with the end-of-turn model when it is loaded, else by silence."""
    if models.turn is None or settings.vad.end_of_turn != "model":
        return None
    v = settings.vad
    fusion = text_fusion(settings, models)
    return TurnTaking(
        models.turn,
        v.turn_threshold,
        v.turn_merge_ms,
        v.turn_merge_heard_ms,
        board=TurnBoard(wants_scores=fusion is not None),
        fusion=fusion,
    )


def text_fusion(settings: Settings, models: Models) -> TurnFusion | None:
    """The fitted weighing of the chat model's opinion with the audio's (``vad.turn_text``).

    None when it is off, or when the chat model cannot give an opinion (a remote one): turns
    then end by the rule, which is said once.
    """
    if not settings.vad.turn_text:
        return None
    if models.llm is None or not models.llm.scores_turn_end:
        _say_the_rule_decides()
        return None
    fusion = TurnFusion.load()
    chosen = settings.vad.turn_text_threshold
    return dataclasses.replace(fusion, threshold=chosen) if chosen else fusion


@functools.cache  # once per process: every conversation would say it again
def _say_the_rule_decides() -> None:
    log.warning("vad.turn_text needs a local chat model; turns end by the audio's rule")


def frontend_config(settings: Settings) -> FrontEndConfig:
    """Echo, noise and gate parameters of the settings."""
    a = settings.audio
    gate = GateConfig(
        threshold_dbfs=a.gate_threshold_dbfs,
        margin_db=a.gate_margin_db,
        attack_ms=a.gate_attack_ms,
        release_ms=a.gate_release_ms,
        calibrate_ms=a.calibrate_ms,
    )
    return FrontEndConfig(
        sample_rate=16000,
        barge_in=a.barge_in,
        echo_cancellation=a.echo_cancellation,
        noise_suppression=a.noise_suppression,
        echo_gate_db=a.echo_gate_db,
        residual_db=a.residual_db,
        gate=gate,
    )


def reply_options(settings: Settings) -> ReplyOptions:
    """System prompt, sampler parameters, length and stop strings of the settings."""
    llm = settings.llm
    return ReplyOptions(
        llm.system_prompt,
        SamplerParams.from_fields(llm.preset, llm.model_dump()),
        llm.max_tokens,
        llm.stop,
        follow_language=settings.stt.language == "auto",
    )


def reply_stages(
    settings: Settings,
    models: Models,
    sink: AudioSink,
    live: bool = False,
    board: TurnBoard | None = None,
    tools: ToolPolicy | None = None,
    context: ConversationContext | None = None,
) -> list[FrameProcessor]:
    """Transcript in, spoken reply out: LLM -> chunker -> TTS (if loaded) -> sink -> heard.

    ``live``: a failed reply ends its turn and the conversation goes on. With ``board`` the
    replies of tentative turns wait in a hold stage before the sink. ``tools``: what turns
    may call. ``context``: the conversation's, which the LLM stage reads and records turns
    in, and the heard stage cuts to what was heard (None: a new one).
    """
    assert models.llm is not None
    # The gate shares this machine's cores; a model on a server competes for none of them,
    # and a remote voice that hangs must not hold the reply's text back.
    shared = settings.tts.backend == "local" and settings.llm.backend == "local"
    priority = SpeechFirst() if shared else None
    options = reply_options(settings)
    context = context if context is not None else ConversationContext()
    llm = LlmStage(models.llm, options, priority, live, tools, context, board)
    stages: list[FrameProcessor] = [llm]
    if models.tts is not None:
        rate = settings.audio.output_sample_rate
        splitter = ClauseSplitter(first_words=settings.tts.first_chunk_words)
        local = settings.tts.backend == "local"  # a remote voice is not warmed up
        voice = TtsStage(models.tts, rate, priority, models.voices, local)
        stages += [ChunkerStage(splitter), voice]
    if board is not None:
        stages.append(HoldStage(board))
    return [*stages, sink, HeardStage(context)]


@dataclass
class Live:
    """How a live conversation hears: the speaker to cancel echo against, push-to-talk.

    Live audio runs through the front end (echo cancellation, noise gate) and allows barge-in,
    as a microphone needs; without it, audio goes straight to the VAD (a recorded file). A
    socket is live with no speaker: its client cancels its own echo.
    """

    speaker: Player | None = None
    push_to_talk: Callable[[], bool] | None = None


def voice_stages(
    settings: Settings,
    models: Models,
    source: FrameProcessor,
    sink: AudioSink,
    ledger: TurnLedger | None = None,
    live: Live | None = None,
    between: FrameProcessor | None = None,
    gate: FrameProcessor | None = None,
    tools: ToolPolicy | None = None,
    context: ConversationContext | None = None,
) -> list[FrameProcessor]:
    """Audio in, spoken reply out: source -> VAD -> STT -> LLM -> chunker -> TTS -> sink.

    ``ledger`` numbers the turns (shared with typed turns); ``between`` goes after STT,
    ``gate`` in front of the VAD (after the front end); ``context`` as in ``reply_stages``.
    """
    assert models.stt is not None
    front: list[FrameProcessor] = [source]
    turns = turn_taking(settings, models)
    if live is not None:
        frontend = FrontEndStage(frontend_config(settings), live.speaker, live.push_to_talk)
        front.append(frontend)
        if turns is not None:
            turns.echo_known = frontend.echo_known
    if gate is not None:
        front.append(gate)
    barge_in = live is not None and settings.audio.barge_in
    board = turns.board if turns is not None else None
    vad = VadStage(vad_config(settings, live is not None), barge_in, turns, ledger)
    stream = settings.stt.stream_final if settings.stt.stream_ms else None
    stt = SttStage(models.stt, board, stream, local=settings.stt.backend == "local")
    front += [vad, stt, *([between] if between is not None else [])]
    return front + reply_stages(settings, models, sink, live is not None, board, tools, context)
