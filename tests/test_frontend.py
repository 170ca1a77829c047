"""The live front end without devices: ring buffer, noise gate, echo cancellation, barge-in.

The same parts run on real audio devices (PulseAudio) in test_live_audio.py.
"""

import asyncio
import threading

import numpy as np
import pytest

from assistant.audio.echo_path import EchoPath
from assistant.audio.gate import GateConfig, NoiseGate, level_dbfs
from assistant.audio.playback import Chunk
from assistant.audio.processing import AudioProcessor
from assistant.audio.ringbuffer import RingBuffer
from assistant.audio.vad import VadConfig
from assistant.models.loaders import Models
from assistant.models.piper import PiperTTS
from assistant.pipeline.frames import AudioFrame, EndFrame, Frame, TranscriptFrame
from assistant.pipeline.harness import run_stage
from assistant.pipeline.heard import ClauseAudio, heard_text
from assistant.pipeline.pipeline import Pipeline
from assistant.pipeline.stages.frontend import FrontEndConfig, FrontEndStage
from assistant.pipeline.stages.llm import LlmStage, ReplyOptions
from assistant.pipeline.stages.vad import VadStage
from tests import media


def test_ring_buffer_wraps_and_counts_what_it_overwrote() -> None:
    ring = RingBuffer(10)
    ring.write(np.arange(6, dtype=np.int16))
    assert ring.read().tolist() == [0, 1, 2, 3, 4, 5]
    ring.write(np.arange(6, 14, dtype=np.int16))  # wraps around the end
    assert ring.read(3).tolist() == [6, 7, 8]
    assert ring.read().tolist() == [9, 10, 11, 12, 13]
    ring.write(np.arange(100, 125, dtype=np.int16))  # 25 samples into 10: 15 lost
    assert ring.read().tolist() == list(range(115, 125))
    assert (ring.overflows, ring.lost_samples) == (1, 15)
    assert ring.read().size == 0


def test_ring_buffer_between_threads_never_tears_and_counts_every_lost_sample() -> None:
    # An unpaced producer laps the consumer now and then: whatever is read must be intact
    # and in order, and what is missing must be exactly what was counted as lost.
    ring, total, got = RingBuffer(512), 30_000, []
    done = threading.Event()

    def produce() -> None:
        for start in range(0, total, 160):
            ring.write(np.arange(start, min(start + 160, total), dtype=np.int16))
        done.set()

    thread = threading.Thread(target=produce)
    thread.start()
    while not done.is_set() or ring.available:
        got.append(ring.read())
    thread.join()
    samples = np.concatenate(got).astype(np.int64)
    assert len(samples) + ring.lost_samples == total
    steps = np.diff(samples)
    assert (steps >= 1).all()  # in order, nothing repeated or torn
    assert int((steps - 1).sum()) + int(samples[0]) == ring.lost_samples


def test_gate_passes_speech_and_closes_on_calibrated_fan_noise(tts: PiperTTS) -> None:
    fan = media.fan_noise(6.0, dbfs=-40)
    speech = media.speech(tts, "Turn the lights on in the kitchen.")
    gate = NoiseGate(media.RATE, GateConfig())
    out_noise = gate.process(fan[: 4 * media.RATE])
    assert gate.floor_dbfs is not None and -50 < gate.floor_dbfs < -35
    tail = out_noise[media.RATE :]  # after calibration the fan is gated away
    assert media.level_dbfs(tail) < media.level_dbfs(fan) - 25
    mixed = speech + fan[: len(speech)] // 4
    out_speech = gate.process(mixed)
    assert media.level_dbfs(out_speech) > media.level_dbfs(mixed) - 3


def test_gate_learns_a_fan_switched_on_later() -> None:
    gate = NoiseGate(media.RATE, GateConfig(floor_window_s=2.0))
    gate.process(media.silence(1.0) + media.noise(1.0, dbfs=-80))  # quiet room at start
    fan = media.fan_noise(6.0, dbfs=-35)
    out = gate.process(fan)
    assert media.level_dbfs(out[-2 * media.RATE :]) < media.level_dbfs(fan) - 25


def test_echo_canceller_removes_the_played_voice_and_keeps_the_users(tts: PiperTTS) -> None:
    played = media.speech(tts, "The weather today is sunny with a light breeze from the west.")
    user = media.speech(tts, "Stop, please stop.")
    delay = int(0.2 * media.RATE)
    echo = np.concatenate([media.silence(0.2), played])[: len(played)] // 2
    mic = echo.astype(np.int32)
    at = len(mic) // 2
    mic[at : at + len(user)] += user[: len(mic) - at]
    mic = np.clip(mic, -32768, 32767).astype(np.int16)
    apm = AudioProcessor(media.RATE, echo=True, noise=False)
    out = np.concatenate(
        [apm.process(mic[i : i + 320], played[i : i + 320]) for i in range(0, len(mic), 320)]
    )
    echo_only = slice(media.RATE, at)
    assert media.level_dbfs(out[echo_only]) < media.level_dbfs(mic[echo_only]) - 20
    user_part = slice(at, at + len(user))
    assert media.level_dbfs(out[user_part]) > media.level_dbfs(user) - 6
    assert delay  # the echo path delay the canceller had to find


def test_canceller_alone_would_eat_a_headphone_users_words(tts: PiperTTS) -> None:
    # Why EchoPath exists: with no echo path to find, AEC3 suppresses speech under the playback.
    # The user speaks in the reply's own voice here, and at some offsets (about one in ten, to
    # within 10 ms) AEC3 takes those words for the playback's echo and lets them through: the
    # voice is steady (conftest.STEADY_VOICE), so the words fall at the same place every run.
    played = media.speech(tts, "The weather today is sunny with a light breeze from the west.")
    user = media.speech(tts, "Stop, please stop.")
    mic = media.noise(len(played) / media.RATE, dbfs=-65)
    at = media.RATE
    mic[at : at + len(user)] += user
    apm = AudioProcessor(media.RATE, echo=True, noise=False)
    out = np.concatenate(
        [apm.process(mic[i : i + 320], played[i : i + 320]) for i in range(0, len(mic), 320)]
    )
    frames = range(0, len(user) - 160, 160)
    loss = [level_dbfs(user[i : i + 160]) - level_dbfs(out[at + i : at + i + 160]) for i in frames]
    voiced = [db for db, i in zip(loss, frames, strict=True) if level_dbfs(user[i : i + 160]) > -40]
    assert np.median(voiced) > 20  # dB: most of the user's words would be gone


def echo_path_verdict(played: np.ndarray, mic: np.ndarray, bar_dbfs: float = -50.0) -> bool:
    """Feed EchoPath 10 ms frames as the front end does (loudest playback of the last 0.3 s)."""
    path = EchoPath()
    levels: list[float] = []
    for i in range(0, len(played) - 160, 160):
        levels = [*levels[-29:], level_dbfs(played[i : i + 160])]
        raw = level_dbfs(mic[i : i + 160])
        path.observe(max(levels), raw, raw, bar_dbfs)
    return path.absent


def test_echo_path_tells_headphones_from_a_speaker_the_microphone_hears(tts: PiperTTS) -> None:
    played = media.speech(tts, "The weather today is sunny with a light breeze from the west.")
    quiet_room = media.noise(len(played) / media.RATE, dbfs=-65)
    assert echo_path_verdict(played, quiet_room)  # headphones: the microphone hears nothing
    delayed = np.concatenate([media.silence(0.15), played])[: len(played)]
    for echo_db in (0, -20):  # a speaker in the room, loud or soft
        echo = (delayed * 10 ** (echo_db / 20)).astype(np.int16) + quiet_room
        assert not echo_path_verdict(played, echo), echo_db
    talking = quiet_room.copy()  # headphones, and the user talks all along: not evidence either
    chatter = media.speech(tts, "I keep talking and talking.")
    talking += np.resize(chatter, len(played))
    assert not echo_path_verdict(played, talking)


def test_echo_path_keeps_its_verdict_for_the_next_reply(tts: PiperTTS) -> None:
    # A continuation in the first second of a later reply must not wait for a new verdict.
    played = media.speech(tts, "The weather today is sunny with a light breeze from the west.")
    path = EchoPath()
    assert not path.known
    levels: list[float] = []
    for i in range(0, len(played) - 160, 160):
        levels = [*levels[-29:], level_dbfs(played[i : i + 160])]
        path.observe(max(levels), -70.0, -70.0, -50.0)
    assert path.absent and path.known
    path.reset()
    assert path.absent  # the user talks over the next reply's first words: heard, not echo
    assert not path.observe(-10.0, -15.0, -40.0, -50.0)
    speaker = EchoPath()
    for _ in range(50):  # a speaker the canceller removes: known too, by its echo level
        speaker.observe(-10.0, -30.0, -60.0, -50.0)
    speaker.reset()
    assert speaker.known and not speaker.absent


def test_echo_path_learns_how_loud_the_echo_is_and_lets_only_louder_talk_through() -> None:
    path = EchoPath()
    bar = -50.0
    # before any measurement the echo may be as loud as the playback
    assert path.observe(-10.0, -12.0, -12.0, bar)
    for _ in range(50):  # the canceller removes a -20 dB echo: that is the echo level
        path.observe(-10.0, -30.0, -60.0, bar)
    assert path.echo_db is not None and abs(path.echo_db + 20) < 1
    assert path.observe(-10.0, -29.0, -29.0, bar)  # a leak of that echo: explained
    assert not path.observe(-10.0, -15.0, -16.0, bar)  # 15 dB over the echo: someone talks
    assert not path.observe(-50.0, -29.0, -29.0, bar)  # the speaker is quiet: not echo


def test_a_stuttering_speaker_in_the_room_does_not_pass_for_headphones(tts: PiperTTS) -> None:
    # A loaded machine's speaker falls silent for moments while the reference says it played:
    # the microphone is quiet then, but the echo the canceller removes in between shows a path.
    played = media.speech(tts, "The weather today is sunny with a light breeze from the west.")
    delayed = np.concatenate([media.silence(0.1), played])[: len(played)]
    path, bar, levels = EchoPath(), -50.0, [-100.0]
    for k, i in enumerate(range(0, len(played) - 160, 160)):
        levels = [*levels[-29:], level_dbfs(played[i : i + 160])]
        heard = k % 10 == 0  # nine frames in ten of the speaker's output lost
        raw = level_dbfs(delayed[i : i + 160]) if heard else -100.0
        path.observe(max(levels), raw, raw - 30 if raw > bar else raw, bar)
    assert not path.absent


def test_echo_of_playback_the_timestamps_misplace_is_still_explained() -> None:
    path, bar = EchoPath(), -50.0
    for _ in range(50):  # a loud echo, measured while the canceller removes it
        path.observe(-10.0, -10.0, -40.0, bar)
    # The aligned reference says the speaker is soft now, but louder playback was written a
    # moment ago and its echo comes late: explained by it, not taken for a user.
    assert not path.observe(-30.0, -12.0, -12.0, bar)
    assert path.observe(-30.0, -12.0, -12.0, bar, source_dbfs=-10.0)
    assert not path.observe(-30.0, 0.0, 0.0, bar, source_dbfs=-10.0)  # 10 dB over it: talk


def test_fan_noise_alone_starts_no_turn_through_front_end_and_vad() -> None:
    fan = media.fan_noise(8.0, dbfs=-30)
    frames: list[Frame] = [
        AudioFrame(pcm=fan[i : i + 320], sample_rate=media.RATE, pts=i / media.RATE, wall=0.0)
        for i in range(0, len(fan), 320)
    ]
    front = FrontEndStage(FrontEndConfig(echo_cancellation=False))
    pipeline = Pipeline([front, VadStage(VadConfig())])
    events = []
    pipeline.bus.listen(events.append)
    asyncio.run(pipeline.run(frames))
    assert [e.kind for e in events if e.kind == "utterance"] == []


def test_heard_text_counts_whole_clauses_then_the_played_share() -> None:
    def clause(text: str, played: int, total: int = 1000) -> ClauseAudio:
        chunk = Chunk(np.zeros(total, np.int16), 1, played=played)
        return ClauseAudio(text, [chunk])

    clauses = {
        1: clause("Paris is the capital.", 1000),
        2: clause("It has one two three four.", 500),
    }
    assert heard_text(clauses) == "Paris is the capital. It has one"
    assert heard_text({1: clause("Nothing yet.", 0)}) == ""


def test_history_keeps_only_what_was_heard(models: Models) -> None:
    assert models.llm is not None
    llm = LlmStage(models.llm, ReplyOptions("Answer briefly.", max_tokens=16))

    async def conversation() -> None:
        pipeline = Pipeline([llm])
        await pipeline.start()
        await pipeline.queue_frame(
            TranscriptFrame(turn_id=1, text="Name a colour.", speech_end_wall=0)
        )
        while len(llm.history) < 2:
            await asyncio.sleep(0.01)
        llm.context.truncate("Blue")
        assert llm.history[-1].content == "Blue"
        llm.context.truncate("")  # nothing heard: the question stays unanswered
        assert [m.role for m in llm.history] == ["user"]
        await pipeline.queue_frame(
            TranscriptFrame(turn_id=2, text="And a fruit.", speech_end_wall=0)
        )
        await pipeline.queue_frame(EndFrame())
        await pipeline.wait()

    asyncio.run(conversation())
    assert [m.role for m in llm.history] == ["user", "assistant"]
    assert llm.history[0].content == "Name a colour. And a fruit."


@pytest.mark.parametrize("barge_in", [True, False])
def test_front_end_without_a_speaker_passes_speech(tts: PiperTTS, barge_in: bool) -> None:
    speech = np.concatenate(
        [media.silence(1.0), media.speech(tts, "Hello there."), media.silence(1.0)]
    )
    frames: list[Frame] = [
        AudioFrame(pcm=speech[i : i + 320], sample_rate=media.RATE, pts=i / media.RATE, wall=0.0)
        for i in range(0, len(speech), 320)
    ]
    out, _ = asyncio.run(
        run_stage(FrontEndStage(FrontEndConfig(barge_in=barge_in, echo_cancellation=False)), frames)
    )
    audio = [f for f in out if isinstance(f, AudioFrame)]
    assert sum(len(f.pcm) for f in audio) == len(speech) // 160 * 160  # 10 ms frames
    gated = np.concatenate([f.vad_pcm for f in audio if f.vad_pcm is not None])
    assert media.level_dbfs(gated) > media.level_dbfs(speech) - 3
