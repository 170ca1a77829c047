"""Turn-taking with the end-of-turn model, on Piper-made recordings through the real pipeline."""

from __future__ import annotations

import asyncio
import importlib.util
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from assistant import config
from assistant.catalog import ModelStore
from assistant.models.loaders import Models
from assistant.models.piper import PiperTTS
from assistant.models.smart_turn import SmartTurn
from assistant.pipeline.conversation import Observers
from assistant.pipeline.events import Confirmed, EndOfTurn, Event
from assistant.pipeline.turn_fusion import DEFAULT, TurnFusion
from assistant.pipeline.turn_taking import sounds_unfinished
from assistant.sessions import chat_file
from tests import media

# Each end-to-end case runs with the rule alone and with the chat model's opinion weighed in;
# the latter reads the weights fitted on the dev set (bench/fit_turn_fusion.py).
TURN_TEXT = pytest.mark.parametrize(
    "turn_text",
    [
        pytest.param(False, id="rule"),
        pytest.param(
            True,
            id="text",
            marks=pytest.mark.skipif(
                not DEFAULT.exists(), reason=f"no fitted weights at {DEFAULT} yet"
            ),
        ),
    ],
)


@pytest.fixture(scope="module")
def turn_model() -> SmartTurn:
    return SmartTurn(ModelStore().resolve("turn").path)


def test_features_match_the_reference_on_real_speech(tts: PiperTTS, turn_model: SmartTurn) -> None:
    # pipecat's own numpy implementation, shipped in the wheel that carries the model (loaded
    # as a file: the package's __init__ wants pipecat's dependencies, not installed here)
    folder = Path(str(metadata.distribution("pipecat-ai").locate_file("pipecat")))
    spec = importlib.util.spec_from_file_location(
        "reference_features", folder / "audio/turn/smart_turn/_whisper_features.py"
    )
    assert spec is not None and spec.loader is not None
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    pcm = np.concatenate([media.silence(0.3), media.speech(tts, "Where is the nearest station?")])
    ours = turn_model.features(pcm)
    audio = pcm.astype(np.float32) / 32768.0
    audio = np.pad(audio, (8 * 16000 - len(audio), 0))
    theirs = reference.compute_whisper_log_mel_features(audio, do_normalize=True)
    assert ours.shape == theirs.shape == (80, 800)
    assert np.abs(ours - theirs).max() < 1e-4


def test_text_cues() -> None:
    assert sounds_unfinished("Tell me about the") and sounds_unfinished("I want to go and,")
    assert sounds_unfinished("I was thinking...")
    assert not sounds_unfinished("Where are you from?") and not sounds_unfinished("Turn it off.")


def _recording(tts: PiperTTS, *parts: str | float | np.ndarray) -> np.ndarray:
    """Half a second of silence, then each part: words for Piper, seconds of silence, or audio."""
    pieces = [media.silence(0.5)]
    for part in parts:
        if isinstance(part, str):
            pieces.append(media.speech(tts, part))
        else:
            pieces.append(media.silence(part) if isinstance(part, float) else part)
    return np.concatenate(pieces)


def _run(
    models: Models, tmp_path: Path, pcm: np.ndarray, turn_text: bool = False
) -> tuple[list[dict], list[Event]]:
    path = media.write_wav(tmp_path / "input.wav", pcm)
    observers = Observers()
    events: list[Event] = []
    observers.bus.listen(events.append)
    settings = config.load({"vad": {"turn_text": turn_text}})
    reports = asyncio.run(
        chat_file(settings, path, realtime=True, observers=observers, models=models)
    )
    return [r.to_json() for r in reports], events


def _decided(events: list[Event], turn: int, fused: bool) -> bool:
    """Whether ``turn`` ended by the decision at a pause, not by the long limit.

    ``fused``: the decision was the fused probability's (with the chat model's opinion), and it
    said finished.
    """
    ends = [(i, e) for i, e in enumerate(events) if isinstance(e, Confirmed) and e.turn_id == turn]
    if len(ends) != 1 or ends[0][1].by_limit:
        return False
    answers = [e for e in events[: ends[0][0]] if isinstance(e, EndOfTurn) and e.turn == turn]
    if not fused:
        return bool(answers)
    fused = answers[-1].fused if answers else None
    return fused is not None and fused >= TurnFusion.load().threshold


@TURN_TEXT
@pytest.mark.parametrize("words", ["Hello world.", "Thanks.", "Yes."])
def test_a_short_finished_utterance_ends_at_the_decision(
    models: Models,
    tts: PiperTTS,
    tmp_path: Path,
    words: str,
    turn_text: bool,
    request: pytest.FixtureRequest,
) -> None:
    if turn_text and words == "Thanks.":
        # Measured with the weights of ef53623: P(end) after "Thanks" is ~1e-5 and one word
        # weighs little, so the fused probability climbs with the pause alone (0.30 at 120 ms,
        # 0.88 at 1720 ms) and stays under its threshold (0.92) until the long limit, where
        # the rule ends it at 120 ms (Smart Turn 0.97). Strict: a refit that fixes it shows.
        request.applymarker(
            pytest.mark.xfail(strict=True, reason="the fitted fusion leaves 'Thanks.' to the limit")
        )
    # two seconds before the words: the chat model has read its system prompt by then
    turns, events = _run(models, tmp_path, _recording(tts, 1.5, words, 2.5), turn_text)
    assert len(turns) == 1, [t["transcript"] for t in turns]
    assert _decided(events, turns[0]["turn"], turn_text), [e for e in events if e.turn_id == 0]


@TURN_TEXT
def test_a_pause_after_an_unfinished_part_stays_one_turn(
    models: Models, tts: PiperTTS, tmp_path: Path, turn_text: bool
) -> None:
    pcm = _recording(tts, "Tell me about the", 0.8, "history of Rome.", 2.5)
    turns, events = _run(models, tmp_path, pcm, turn_text)
    assert len(turns) == 1, [t["transcript"] for t in turns]
    assert "rome" in turns[0]["transcript"].lower() and "tell" in turns[0]["transcript"].lower()
    replies = [e for e in events if e.kind == "reply_done"]
    assert len(replies) == 1  # a reply to the fragment never reached a listener


@TURN_TEXT
def test_two_questions_a_second_apart_are_two_turns_and_noise_is_none(
    models: Models, tts: PiperTTS, tmp_path: Path, turn_text: bool
) -> None:
    pcm = _recording(
        tts,
        "What is the capital of France?",
        1.0,
        media.noise(1.0, -45.0),
        "How many legs does a spider have?",
        2.5,
    )
    turns, events = _run(models, tmp_path, pcm, turn_text)
    assert [
        ("france" in t["transcript"].lower(), "spider" in t["transcript"].lower()) for t in turns
    ] == [(True, False), (False, True)]
    # each ended by the decision at a pause, not by the long limit; how soon after the speech
    # is the endpoint figure of bench/turns.py
    if not turn_text:  # the rule: the audio model's last answer for the turn said "finished"
        last = {e.turn: e.probability for e in events if isinstance(e, EndOfTurn)}
        finished = config.load().vad.turn_threshold
        assert [last.get(t["turn"], 0.0) >= finished for t in turns] == [True, True], last
    # A file is not interrupted: the second question comes while the first reply is still being
    # made, so the chat model's opinion on it is late and the rule decides (by design).
    assert [_decided(events, t["turn"], turn_text and i == 0) for i, t in enumerate(turns)] == [
        True,
        True,
    ]


def test_telephone_audio_takes_turns_as_well(models: Models, tts: PiperTTS, tmp_path: Path) -> None:
    # 8 kHz, as phones and VoIP send it: resampled on the way in, judged like 16 kHz
    speech = _recording(tts, "Tell me about the", 0.7, "history of Rome.", 2.5)
    phone = media.speech_to_rate(speech, 8000)
    path = media.write_wav(tmp_path / "phone.wav", phone, rate=8000)
    observers = Observers()
    settings = config.load()
    reports = asyncio.run(
        chat_file(settings, path, realtime=True, observers=observers, models=models)
    )
    assert len(reports) == 1, [r.transcript for r in reports]
    assert {"rome", "tell"} <= set(reports[0].transcript.lower().replace(".", "").split())


def test_withdrawing_a_turn_leaves_the_reply_before_it_alone(
    models: Models, tts: PiperTTS, tmp_path: Path
) -> None:
    # Without barge-in (a file) the first reply is still being made when the next sentence's
    # pause opens a turn that is then withdrawn: that withdrawal concerns its own turn only.
    pcm = _recording(
        tts,
        "Tell me a long story about a brave knight and a dragon?",
        2.0,
        "Tell me about the",
        0.8,
        "history of Rome.",
        2.0,
    )
    path = media.write_wav(tmp_path / "input.wav", pcm)
    observers = Observers()
    events: list[Event] = []
    observers.bus.listen(events.append)
    settings = config.load()
    settings = settings.model_copy(
        update={"llm": settings.llm.model_copy(update={"max_tokens": 60})}
    )
    reports = asyncio.run(
        chat_file(settings, path, realtime=False, observers=observers, models=models)
    )
    assert any(e.kind in ("retracted", "merged") for e in events)  # a turn was withdrawn
    turns = [r.to_json() for r in reports]
    assert len(turns) == 2, [t["transcript"] for t in turns]  # the first reply was not lost
    assert "dragon" in turns[0]["transcript"].lower(), turns[0]["transcript"]
    assert turns[0]["finish_reason"] != "cancelled" and turns[0]["reply_audio_s"] > 1.0
    assert "rome" in turns[-1]["transcript"].lower()
