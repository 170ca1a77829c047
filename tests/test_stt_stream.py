"""Recognition while the user speaks: agreement, the STT stage's passes, the VAD's progress."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import numpy as np
import pytest

from assistant import config
from assistant.audio.vad import SpeechPaused, SpeechProgress, Utterance, VadConfig, VadSegmenter
from assistant.models.interfaces import Float32, Transcript
from assistant.models.loaders import load_models
from assistant.models.whisper import WhisperSTT
from assistant.pipeline import events
from assistant.pipeline.frames import (
    AudioFrame,
    DataFrame,
    Frame,
    RetractFrame,
    SpeculativeTranscriptFrame,
    SpeechPauseFrame,
    SpeechProgressFrame,
    UtteranceFrame,
)
from assistant.pipeline.harness import run_stage
from assistant.pipeline.partial_words import agree, begins_with, norm, settled
from assistant.pipeline.processor import FrameProcessor
from assistant.pipeline.stages.stream_stt import StreamingRecognizer
from assistant.pipeline.stages.stt import SttStage
from assistant.pipeline.stages.vad import VadStage
from bench import devset
from bench.devset_audio import read_pcm
from bench.report import wer, words
from tests import media

RATE = 16000
SCRIPT = "What is the capital city of France?".split()
PER_WORD = RATE // 2  # the stand-in hears one more word every half second of audio
START = 0.5  # stream seconds of the scripted speech's onset

# --- agreement ----------------------------------------------------------------------------


def test_norm_ignores_case_and_punctuation_but_keeps_inner_apostrophes() -> None:
    assert norm("France?") == norm("france") == "france"
    assert norm("Don't,") == "don't"
    assert norm("'tis") == "tis"


def test_agreement_confirms_the_common_prefix_and_never_shrinks() -> None:
    # case and punctuation differ, the words agree; the last word is never confirmed
    assert agree(0, ["What", "is."], ["what", "is", "the."]) == 2
    assert agree(0, ["What", "is", "the."], ["What", "is", "the"]) == 2
    # a later pass that disagrees after the confirmed words takes nothing back
    assert agree(3, ["What", "is", "the", "capital"], ["What", "is", "the", "cat", "all"]) == 3
    # nor does one that disagrees within them (a pass must begin with them to add any)
    assert agree(2, ["What", "is", "the", "x"], ["Was", "it", "the", "x", "y"]) == 2
    counts, confirmed, previous = [], 0, []
    for hypothesis in ["What", "What is.", "What was the", "What is the capital", "What is it"]:
        current = hypothesis.split()
        confirmed = agree(confirmed, previous, current)
        counts.append(confirmed)
        previous = current
    assert counts == sorted(counts)


def test_a_trailing_question_mark_is_held_back_until_a_later_word_is_confirmed() -> None:
    assert settled(["What", "about", "France?"]) == "What about France"
    assert settled(["France?", "And"]) == "France? And"
    assert settled([]) == ""
    # the held-back text is still a prefix of what follows
    assert settled(["France?", "And"]).startswith(settled(["France?"]))
    assert begins_with("what, is the", ["What", "is"])


# --- the STT stage with a scripted model --------------------------------------------------


class ScriptedStt:
    """Hears one more word of SCRIPT every PER_WORD samples; a cut-off hypothesis ends in '.'.

    Records each call as (samples, forced prefix or None for a whole decode). With ``gate``
    its first call waits until the gate is set.
    """

    sample_rate = RATE
    continues = True

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[int, str | None]] = []
        self.gate = gate

    def _words(self, audio: Float32) -> list[str]:
        heard = SCRIPT[: min(len(SCRIPT), len(audio) // PER_WORD)]
        return [*heard[:-1], heard[-1] + "."] if 0 < len(heard) < len(SCRIPT) else heard

    def _record(self, audio: Float32, prefix: str | None) -> None:
        self.calls.append((len(audio), prefix))
        if self.gate is not None and len(self.calls) == 1:
            self.gate.wait()

    def transcribe(self, audio: Float32) -> Transcript:
        if not audio.any():  # the stage's warm-up on silence
            return Transcript("", "en", 1.0, -1.0)
        self._record(audio, None)
        return Transcript(" ".join(self._words(audio)), "en", 0.0, -0.1)

    def transcribe_after(self, audio: Float32, prefix: str) -> Transcript | None:
        self._record(audio, prefix)
        heard = self._words(audio)
        assert begins_with(" ".join(heard), prefix.split()), (prefix, heard)
        return Transcript(" ".join([prefix, *heard[len(prefix.split()) :]]), "en", 0.0, -0.1)


class CountingStt(SttStage):
    """The STT stage, counting the frames it has taken (so a test can wait for them)."""

    taken = 0

    async def process_frame(self, frame: DataFrame) -> None:
        self.taken += 1
        await super().process_frame(frame)


class Release(DataFrame):
    """Marks where the test lets the blocked model go on."""


class Retract(DataFrame):
    """Marks where the tentative turn 1 is withdrawn (a data frame keeps it in order)."""


async def _until(condition: object) -> None:
    for _ in range(100_000):  # loop turns, not time: fails only if it never happens
        if callable(condition) and condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the stage never got there")


class OneAtATime(FrameProcessor):
    """Hands the STT stage a frame only once it has taken the last one and the model is idle.

    With ``gate``, frames before the Release marker are passed on at once (the model is
    blocked meanwhile); at the marker it waits for the stage to have skipped ``skips``.
    """

    def __init__(
        self, stt: CountingStt, gate: threading.Event | None = None, skips: int = 0
    ) -> None:
        super().__init__("one-at-a-time")
        self.stt, self.gate, self.skips, self.sent = stt, gate, skips, 0

    async def process_frame(self, frame: DataFrame) -> None:
        if isinstance(frame, Release):
            assert self.gate is not None
            await _until(lambda: self.stt.skipped == self.skips)
            self.gate.set()
            await self.stt.idle()
            self.gate = None
            return
        if isinstance(frame, Retract):
            await self.push_frame(RetractFrame(turn_id=1))
            return
        await self.push_frame(frame)
        self.sent += 1
        if self.gate is None:
            await _until(lambda: self.stt.taken >= self.sent)
            await self.stt.idle()


def progress(seconds: float) -> SpeechProgressFrame:
    audio = np.full(int(seconds * RATE), 1000, np.int16)
    return SpeechProgressFrame(audio=audio, start=START, end=START + seconds)


def utterance(turn: int, seconds: float, tentative: bool = False) -> UtteranceFrame:
    audio = np.full(int(seconds * RATE), 1000, np.int16)
    end = START + seconds
    return UtteranceFrame(
        turn_id=turn,
        audio=audio,
        sample_rate=RATE,
        start=START,
        end=end,
        speech_end_wall=0.0,
        tentative=tentative,
    )


def _run(
    stt: ScriptedStt, frames: list[Frame], gate: threading.Event | None = None, skips: int = 0
) -> tuple[CountingStt, list[Frame], list[events.Event]]:
    stage = CountingStt(stt, stream="tail")
    out, seen = asyncio.run(run_stage([OneAtATime(stage, gate, skips), stage], frames))
    return stage, out, seen


def test_partials_grow_and_the_final_continues_the_confirmed_words() -> None:
    model = ScriptedStt()
    frames: list[Frame] = [progress(s) for s in (1.0, 1.5, 2.0, 2.5, 3.0, 3.5)]
    stage, out, seen = _run(model, [*frames, utterance(1, 4.0)])
    partials = [e for e in seen if isinstance(e, events.PartialTranscript)]
    final = next(e for e in seen if isinstance(e, events.Transcript))
    assert final.text == " ".join(SCRIPT)
    assert stage.passes == 6 and stage.skipped == 0
    stables = [p.stable for p in partials]
    assert stables[-1] == "What is the capital city of"  # "France?" was the last word heard
    for p, later in itertools.pairwise(partials):
        assert later.stable.startswith(p.stable)
    for p in partials:
        assert p.text.startswith(p.stable) and final.text.startswith(p.stable)
        assert p.start == START and not p.restarted
    # each continuation was forced with the confirmed words of the pass before
    prefixes = [prefix for _, prefix in model.calls if prefix is not None]
    assert prefixes and set(prefixes) <= set(stables)
    assert model.calls[-1] == (4 * RATE, stables[-1])
    # newly confirmed words go on as open speculative transcripts, growing
    opened = [f.text for f in out if isinstance(f, SpeculativeTranscriptFrame) and f.open]
    assert opened == sorted(set(opened), key=len) and opened[-1] == stables[-1]


def test_progress_while_the_model_is_busy_is_skipped_not_queued() -> None:
    gate = threading.Event()
    model = ScriptedStt(gate)
    frames: list[Frame] = [progress(1.0), progress(1.5), progress(2.0), Release()]
    stage, _, seen = _run(model, [*frames, progress(2.5), utterance(1, 3.0)], gate, skips=2)
    # the first audio, then the newest: the two that came while the first pass ran are gone
    assert [samples for samples, _ in model.calls] == [1 * RATE, int(2.5 * RATE), 3 * RATE]
    assert stage.passes == 2 and stage.skipped == 2
    assert model.calls[-1][1] == "What is"
    final = next(e for e in seen if isinstance(e, events.Transcript))
    assert final.text == "What is the capital city of."


def test_a_withdrawn_tentative_turn_keeps_its_confirmed_words() -> None:
    model = ScriptedStt()
    pause = SpeechPauseFrame(audio=utterance(1, 2.2).audio, start=START, end=START + 2.2)
    frames: list[Frame] = [progress(1.0), progress(1.5), progress(2.0), pause]
    frames += [utterance(1, 2.2, tentative=True), Retract(), progress(2.5), progress(3.0)]
    _stage, _, seen = _run(model, [*frames, utterance(2, 4.0)])
    partials = [e for e in seen if isinstance(e, events.PartialTranscript)]
    before = [p.stable for p in partials if p.stable][:3]
    assert before[-1] == "What is the"  # confirmed before the pause
    final = [e for e in seen if isinstance(e, events.Transcript) and e.turn_id == 2]
    assert [f.text for f in final] == [" ".join(SCRIPT)]
    # the passes after the turn was withdrawn went on from the words confirmed before it
    later = [prefix for samples, prefix in model.calls if samples > 2.2 * RATE]
    assert later and all(p is not None and p.startswith("What is the") for p in later)
    assert all(b.stable.startswith(a.stable) for a, b in itertools.pairwise(partials))


def test_without_streaming_progress_frames_are_dropped_and_the_final_is_whole() -> None:
    model = ScriptedStt()
    stage = CountingStt(model)
    frames: list[Frame] = [progress(1.0), progress(1.5), utterance(1, 2.0)]
    out, _seen = asyncio.run(run_stage([OneAtATime(stage), stage], frames))
    assert model.calls == [(2 * RATE, None)]
    assert not any(isinstance(f, SpeechProgressFrame) for f in out)
    assert stage.passes == 0


# --- the VAD: progress while speaking -----------------------------------------------------


def buzz(seconds: float) -> np.ndarray:
    """A 120 Hz voice-like tone that webrtcvad calls speech in every frame."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * k * 120 * t) / k for k in range(1, 30))
    return (wave / np.abs(wave).max() * 8000).astype(np.int16)


def _progress_ends(pcm: np.ndarray, config: VadConfig, answering: bool = False) -> list[float]:
    vad = VadStage(config)
    if answering:
        vad.ledger.answer(vad.ledger.new())
    frames: list[Frame] = [
        AudioFrame(pcm=pcm[i : i + 320], sample_rate=RATE, pts=i / RATE, wall=time.monotonic())
        for i in range(0, len(pcm), 320)
    ]
    out, _ = asyncio.run(run_stage(vad, frames))
    progress = [f for f in out if isinstance(f, SpeechProgressFrame)]
    for a, b in itertools.pairwise(progress):  # the utterance so far, up to ``end``
        assert len(b.audio) - len(a.audio) == round((b.end - a.end) * RATE)
    assert all(len(f.audio) / RATE >= f.end - f.start for f in progress)
    return [round(f.end, 2) for f in progress]


def test_the_vad_stage_reports_speech_in_progress_every_progress_ms() -> None:
    # speech from 1.0 to 4.0 s, a 0.5 s pause, speech from 4.5 to 6.5 s: one utterance
    pcm = np.concatenate(
        [media.silence(1.0), buzz(3.0), media.silence(0.5), buzz(2.0), media.silence(1.5)]
    )
    config = VadConfig(hangover_ms=1000, progress_ms=400)
    ends = _progress_ends(pcm, config)
    # the first once a second of speech is held, then every 400 ms of stream time; none in
    # the pause; at once when speech resumes (at the first frame webrtcvad calls voiced again,
    # its second), then every 400 ms, up to the last voiced frame
    assert ends == [2.0, 2.4, 2.8, 3.2, 3.6, 4.0, 4.54, 4.94, 5.34, 5.74, 6.14]
    assert _progress_ends(pcm, VadConfig(hangover_ms=1000)) == []
    # a reply being made (no barge-in) owns the other core: no recognition meanwhile
    assert _progress_ends(pcm, config, answering=True) == []


# --- real speech, tiny.en -----------------------------------------------------------------

HUMAN = pytest.mark.skipif(
    not devset.SOURCE.is_dir(),
    reason=f"{devset.SOURCE} is missing (Debian's pocketsphinx-testdata: the human-speech set)",
)


@pytest.fixture(scope="module")
def whisper() -> WhisperSTT:
    models = load_models(config.load({"vad": {"end_of_turn": "silence"}}), ("stt",))
    assert isinstance(models.stt, WhisperSTT)
    return models.stt


def _stream(stt: WhisperSTT, pcm: np.ndarray) -> tuple[list[list[str]], str, str]:
    """The partials' stable texts (per utterance), the final text and the whole decode.

    As the STT stage does it, with every pass run: at each progress report a pass, at each
    pause a final (one more pass), and at the end the final of the last pause or a new one.
    """
    recognizer = StreamingRecognizer(stt)
    segmenter = VadSegmenter(VadConfig(hangover_ms=2000, progress_ms=400))
    stables: list[list[str]] = []
    finals, wholes = [], []
    paused: tuple[float, float, str] | None = None
    for event in segmenter.feed(pcm) + segmenter.flush():
        if isinstance(event, SpeechProgress | SpeechPaused | Utterance):
            audio = event.audio.astype(np.float32) / 32768.0
        if isinstance(event, SpeechProgress):
            heard = recognizer.step(audio, event.start)
            if heard is not None:
                if not stables or heard.restarted:
                    stables.append([])
                stables[-1].append(heard.stable)
        elif isinstance(event, SpeechPaused):
            final = recognizer.finish(audio, event.start)
            paused = (event.start, event.end, final.transcript.text)
        elif isinstance(event, Utterance):
            if paused is not None and paused[:2] == (event.start, event.end):
                finals.append(paused[2])
            else:
                finals.append(recognizer.finish(audio, event.start).transcript.text)
            wholes.append(stt.transcribe(audio).text)
            recognizer.reset()
    return stables, " ".join(finals), " ".join(wholes)


@HUMAN
def test_real_speech_partials_hold_and_the_final_is_no_worse_than_a_whole_decode(
    whisper: WhisperSTT,
) -> None:
    turns = [t for t in devset.load() if t.split == "tuning" and t.variant in ("clean", "noisy")]
    assert turns
    for turn in turns:
        pcm = read_pcm(turn.path)
        stables, final, whole = _stream(whisper, pcm)
        for run in stables:
            assert all(b.startswith(a) for a, b in itertools.pairwise(run)), (turn.id, run)
        if stables:
            assert all(final.startswith(s) for s in stables[-1]), (turn.id, stables[-1], final)
        bound = wer(turn.text, whole) + 1 / len(words(turn.text))
        assert final == whole or wer(turn.text, final) <= bound + 1e-9, (turn.id, final, whole)


@HUMAN
def test_a_continuation_decodes_only_what_follows_the_forced_words(whisper: WhisperSTT) -> None:
    turn = next(t for t in devset.load() if t.id == "librivox-0870.clean")
    audio = read_pcm(turn.path).astype(np.float32) / 32768.0
    whole = whisper.transcribe(audio)
    assert whisper.transcribe_after(audio, "") == whole
    # CTranslate2 hands the forced tokens back at the head of the result: cut off once
    head = " ".join(whole.text.split()[:4])
    after = whisper.transcribe_after(audio, head)
    assert after is not None and after.text == whole.text
    assert whole.text.count(head) == 1 and after.text.count(head) == 1
