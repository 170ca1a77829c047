"""Stage tests through the harness: frames in, frames out, with the real models."""

import asyncio
import time

import numpy as np
import pytest

from assistant.audio.vad import VadConfig
from assistant.llm.sampling import SamplerParams
from assistant.models.loaders import Models
from assistant.pipeline.events import Transcript
from assistant.pipeline.frames import (
    AudioFrame,
    CancelFrame,
    ClauseFrame,
    DataFrame,
    EndFrame,
    Frame,
    InterruptFrame,
    ReplyAudioFrame,
    ReplyEndFrame,
    TextFrame,
    TranscriptFrame,
)
from assistant.pipeline.harness import Recorder, run_stage
from assistant.pipeline.pipeline import Pipeline
from assistant.pipeline.processor import FrameProcessor
from assistant.pipeline.stages.chunker import ChunkerStage
from assistant.pipeline.stages.llm import LlmStage, ReplyOptions
from assistant.pipeline.stages.stt import SttStage
from assistant.pipeline.stages.tts import TtsStage
from assistant.pipeline.stages.vad import VadStage
from tests import media


def text(turn: int, s: str) -> TextFrame:
    return TextFrame(turn_id=turn, text=s)


def test_chunker_stage_emits_clauses_then_the_end_of_the_reply() -> None:
    frames: list[Frame] = [text(1, p) for p in ["Paris", " is the capital", ". It is", " big."]]
    frames.append(ReplyEndFrame(turn_id=1, text="", finish_reason="stop"))
    out, events = asyncio.run(run_stage(ChunkerStage(), frames))
    assert [type(f).__name__ for f in out] == ["ClauseFrame", "ClauseFrame", "ReplyEndFrame"]
    assert [f.text for f in out if isinstance(f, ClauseFrame)] == [
        "Paris is the capital.",
        "It is big.",
    ]
    assert [e.kind for e in events] == ["clause", "clause"]


class SlowEcho(FrameProcessor):
    """Takes 50 ms per data frame; ``started`` lists each frame it began on, in order."""

    def __init__(self) -> None:
        super().__init__("slow-echo")
        self.started: list[DataFrame] = []

    async def process_frame(self, frame: DataFrame) -> None:
        self.started.append(frame)
        await asyncio.sleep(0.05)
        await self.push_frame(frame)


def test_interrupt_overtakes_queued_data_and_drops_the_cancelled_turn() -> None:
    frames: list[Frame] = [text(1, str(i)) for i in range(10)]
    frames += [InterruptFrame(turn_id=1), text(2, "after")]
    echo = SlowEcho()
    out, _ = asyncio.run(run_stage(echo, frames))
    # the stop's speed is bench/stops.py's; here: the queued frames were skipped, not worked off
    worked = [f.turn_id for f in echo.started if isinstance(f, TextFrame)]
    assert worked in ([2], [1, 2]), worked  # at most the frame in progress, never the queued ones
    assert isinstance(out[0], InterruptFrame)  # nothing of turn 1 got through before it
    assert [f.turn_id for f in out[1:]] == [2]


def test_vad_and_stt_stages_turn_speech_into_a_transcript(models: Models, tts: object) -> None:
    pcm = np.concatenate(
        [
            media.silence(0.5),
            # Piper speaks with random variation, and tiny.en hears "Please set a timer" as
            # "Police at a time are" in about a third of the renditions; this sentence it
            # transcribed 20 times out of 20. The test is about the stages, not Whisper.
            media.speech(tts, "What is the capital of France?"),
            media.silence(1.0),
        ]
    )  # type: ignore[arg-type]
    chunk = 320
    frames: list[Frame] = [
        AudioFrame(pcm=pcm[i : i + chunk], sample_rate=16000, pts=i / 16000, wall=time.monotonic())
        for i in range(0, len(pcm), chunk)
    ]
    assert models.stt is not None
    out, events = asyncio.run(run_stage([VadStage(VadConfig()), SttStage(models.stt)], frames))
    transcripts = [f for f in out if isinstance(f, TranscriptFrame)]
    assert len(transcripts) == 1 and transcripts[0].turn_id == 1
    assert "capital" in transcripts[0].text.lower()
    kinds = [e.kind for e in events]
    assert kinds.index("speech_started") < kinds.index("utterance") < kinds.index("transcript")
    assert next(e for e in events if isinstance(e, Transcript)).speculative is True


def test_tts_stage_speaks_at_the_output_rate(models: Models) -> None:
    assert models.tts is not None
    frames: list[Frame] = [ClauseFrame(turn_id=1, text="Hello there.")]
    out, events = asyncio.run(run_stage(TtsStage(models.tts, 24000), frames))
    audio = [f for f in out if isinstance(f, ReplyAudioFrame)]
    assert audio and all(f.sample_rate == 24000 for f in audio)
    pcm = np.concatenate([f.pcm for f in audio])
    assert 0.4 < len(pcm) / 24000 < 2.0
    assert media.rms_dbfs(pcm) > -35
    assert [e.kind for e in events] == ["tts_audio"]


def _lead_ms(pcm: np.ndarray, rate: int) -> int:
    """Milliseconds before the first 10 ms over -60 dBFS."""
    window = rate // 100
    frames = pcm[: len(pcm) // window * window].reshape(-1, window).astype(np.float64)
    levels = 10 * np.log10((frames**2).mean(axis=1) / 32768.0**2 + 1e-12)
    return int(np.flatnonzero(levels > -60.0)[0]) * 10


def test_tts_stage_starts_a_reply_at_its_first_sound(models: Models) -> None:
    # Piper opens every clause with up to 60 ms of near-silence: cut before a reply's first
    # clause (the user hears the answer that much sooner), kept before the next ones.
    assert models.tts is not None
    said = "I think the moon is far."
    frames: list[Frame] = [ClauseFrame(turn_id=1, text=said), ClauseFrame(turn_id=1, text=said)]
    out, _ = asyncio.run(run_stage(TtsStage(models.tts, 24000), frames))
    clauses: dict[int, list[np.ndarray]] = {}
    for f in out:
        if isinstance(f, ReplyAudioFrame):
            clauses.setdefault(f.clause_index, []).append(f.pcm)
    first, second = (np.concatenate(clauses[i]) for i in (1, 2))
    assert _lead_ms(first, 24000) <= 20
    assert _lead_ms(second, 24000) >= 30
    assert abs(len(first) - len(second)) / 24000 < 0.2  # nothing but the lead was cut


async def _interrupted_generation(models: Models) -> tuple[list[Frame], LlmStage]:
    assert models.llm is not None
    options = ReplyOptions("You tell long stories.", SamplerParams.greedy(), max_tokens=200)
    llm, recorder = LlmStage(models.llm, options), Recorder()
    pipeline = Pipeline([llm, recorder])
    await pipeline.start()
    await pipeline.queue_frame(
        TranscriptFrame(
            turn_id=1, text="Tell me a long story about a dragon.", speech_end_wall=time.monotonic()
        )
    )
    while sum(isinstance(f, TextFrame) for f in recorder.frames) < 5:
        await asyncio.sleep(0.01)
    await pipeline.queue_frame(InterruptFrame(turn_id=1))
    await pipeline.queue_frame(
        TranscriptFrame(turn_id=2, text="Say hello.", speech_end_wall=time.monotonic())
    )
    await pipeline.queue_frame(EndFrame())
    await asyncio.wait_for(pipeline.wait(), 300)  # only against a hang: turn 2 is 200 tokens
    return recorder.frames, llm


def test_llm_cancellation_drops_stale_frames_and_the_next_turn_goes_on(models: Models) -> None:
    frames, llm = asyncio.run(_interrupted_generation(models))
    cut = next(i for i, f in enumerate(frames) if isinstance(f, InterruptFrame))
    assert all(f.turn_id != 1 for f in frames[cut + 1 :])  # nothing of turn 1 after the interrupt
    assert not any(isinstance(f, ReplyEndFrame) and f.turn_id == 1 for f in frames)
    turn2 = [f for f in frames if f.turn_id == 2]
    assert any(isinstance(f, TextFrame) for f in turn2) and isinstance(turn2[-1], ReplyEndFrame)
    # the history keeps the cut-off reply of turn 1 and the whole of turn 2
    assert [m.role for m in llm.history] == ["user", "assistant", "user", "assistant"]
    assert 0 < len(llm.history[1].content) < 600


@pytest.mark.parametrize("preset", ["greedy", "precise", "creative"])
def test_same_seed_same_reply(models: Models, preset: str) -> None:
    import threading

    from assistant.models.interfaces import ChatMessage
    from assistant.models.request import TextRequest

    assert models.llm is not None
    params = SamplerParams.preset(preset)
    params.seed = 1234
    msgs = [ChatMessage("user", "Name a colour.")]
    asked = TextRequest.of(params, 16, [])
    replies = {"".join(models.llm.stream_chat(msgs, asked, threading.Event())) for _ in range(2)}
    assert len(replies) == 1


def test_event_bus_queue_subscriber_drops_oldest_when_full() -> None:
    from assistant.pipeline.events import EventBus, TurnDone

    async def scenario() -> list[int]:
        bus = EventBus(queue_size=3)
        queue = bus.subscribe()
        for turn in range(1, 6):
            bus.publish(TurnDone(turn_id=turn))
        return [queue.get_nowait().turn_id for _ in range(queue.qsize())]

    assert asyncio.run(scenario()) == [3, 4, 5]


def test_cancel_stops_a_realtime_pipeline_at_once() -> None:
    from assistant.pipeline.stages.source import PcmSource

    async def scenario() -> list[Frame]:
        recorder = Recorder()
        source = PcmSource(media.silence(30.0), 16000, realtime=True)
        pipeline = Pipeline([source, SlowEcho(), recorder])
        await pipeline.start()
        while not any(isinstance(f, AudioFrame) for f in recorder.frames):  # it is running
            await asyncio.sleep(0.01)
        await pipeline.cancel("test")
        await pipeline.wait()
        return recorder.frames

    # how fast it stops is bench/stops.py's; here: it stopped, with the recording far from done
    frames = asyncio.run(scenario())
    assert isinstance(frames[-1], CancelFrame), frames[-3:]  # nothing came after the cancel
    assert sum(isinstance(f, AudioFrame) for f in frames) < 30 * 50 // 4  # of 1500 chunks


def test_wake_stage_answers_only_turns_with_the_wake_phrase_or_right_after_the_phrase() -> None:
    from assistant.kiosk.wake import WakeStage

    def said(turn: int, words: str) -> TranscriptFrame:
        return TranscriptFrame(turn_id=turn, text=words, speech_end_wall=time.monotonic())

    frames: list[Frame] = [
        said(1, "What time is it?"),  # no phrase: ignored
        said(2, "Hey, Computer! What is the capital of France?"),  # phrase: cut off, answered
        said(3, "hey computer"),  # the phrase alone opens the window for the next turn
        said(4, "And of Spain?"),
    ]
    out, events = asyncio.run(run_stage(WakeStage("hey computer"), frames))
    passed = [(f.turn_id, f.text) for f in out if isinstance(f, TranscriptFrame)]
    assert passed == [(2, "what is the capital of france"), (4, "And of Spain?")]
    ignored = [e.turn_id for e in events if e.kind == "no_speech"]
    assert ignored == [1, 3]  # their turns end at once, nothing waits for a reply
