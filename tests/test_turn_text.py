"""The chat model's opinion in the end-of-turn decision, and the prompt kept warm across turns.

Real SmolLM2 behind the real LLM stage. Cache reuse is proved by the tokens llama.cpp evaluated
(``Context.n_evaluated``, ``last_reused``, ``Usage.cached_tokens``), never by timing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from assistant import config
from assistant.llm.model import Model
from assistant.llm.sampling import SamplerParams
from assistant.llm.turn_end import TurnEndScore, open_prompt
from assistant.models.interfaces import EndOfTurn
from assistant.models.llama_chat import LlamaChatModel
from assistant.models.loaders import Models
from assistant.models.openai_client import OpenAIClient
from assistant.models.remote_chat import RemoteChatModel
from assistant.models.request import TextRequest, Usage
from assistant.pipeline.events import Event, ReplyDone
from assistant.pipeline.frames import (
    EndFrame,
    Frame,
    ReplyEndFrame,
    RetractFrame,
    SpeculativeTranscriptFrame,
    TextFrame,
    TranscriptFrame,
)
from assistant.pipeline.harness import Recorder
from assistant.pipeline.pipeline import Pipeline
from assistant.pipeline.stages.llm import LlmStage, ReplyOptions
from assistant.pipeline.stages.tentative import _fused, _Tentative, finished
from assistant.pipeline.turn_fusion import TurnFeatures, TurnFusion, features
from assistant.pipeline.turn_taking import TurnBoard, TurnTaking, sounds_unfinished
from assistant.pipeline.voice import _say_the_rule_decides, turn_taking
from assistant.types import ChatMessage

SYSTEM = "You are a voice assistant. Answer in one short sentence."
REPLY_TOKENS = 12


@pytest.fixture(scope="module")
def model(models: Models) -> Model:
    """The default chat model's weights (the shared fixture's, loaded once)."""
    assert isinstance(models.llm, LlamaChatModel)
    return models.llm.model


@pytest.fixture
def chat(model: Model) -> Iterator[LlamaChatModel]:
    """A chat model with a fresh context of its own, so its counters start at zero."""
    fresh = LlamaChatModel(model, n_ctx=1024, threads=2)
    yield fresh
    fresh.close()


def greedy_reply(chat: LlamaChatModel, messages: list[ChatMessage]) -> str:
    request = TextRequest(max_tokens=REPLY_TOKENS, params=SamplerParams.greedy())
    return "".join(chat.stream_chat(messages, request, threading.Event()))


# --- the decision ------------------------------------------------------------------------


def todays_rule(p_audio: float, text: str | None, threshold: float = 0.5) -> bool:
    """The rule as it was before the chat model had a say (tentative.py at 70f0e95)."""
    asked = (text or "").rstrip().endswith("?")
    ready = p_audio >= threshold or asked
    return text == "" or (ready and not (text and sounds_unfinished(text)))


GRID_AUDIO = [0.0, 0.2, 0.49, 0.5, 0.8, 1.0]
GRID_TEXT = [None, "", "Hello world.", "What time is it?", "Tell me about the", "So, um,", "Yes"]
# Hand-made: the words' P(end) and the audio decide, equally weighted.
FUSION = TurnFusion(weights=(1.0, 1.0, 0.0, 0.0, 0.0), bias=0.0, threshold=0.5)


@pytest.fixture(scope="module")
def turn_model(models: Models) -> EndOfTurn:
    assert models.turn is not None
    return models.turn


def test_without_a_score_the_decision_is_todays_rule(turn_model: EndOfTurn) -> None:
    plain, fused = TurnTaking(turn_model), TurnTaking(turn_model, fusion=FUSION)
    for p, text in itertools.product(GRID_AUDIO, GRID_TEXT):
        assert finished(plain, p, text, None) == todays_rule(p, text), (p, text)
        # a fusion with no score decides as the rule, except that no words in a word's length
        # of speech mean "wait"; a click with no words ends as before
        expected = False if text == "" else todays_rule(p, text)
        assert finished(fused, p, text, None, spoken_s=0.4) == expected, (p, text)
        assert finished(fused, p, text, None, spoken_s=0.08) == todays_rule(p, text), (p, text)


def test_a_score_of_none_on_the_board_leaves_the_rule_to_decide(turn_model: EndOfTurn) -> None:
    async def check() -> list[float | None]:
        turns = TurnTaking(turn_model, fusion=FUSION)
        turns.board.open(1)
        turns.board.open(2)  # never begun: its model thread busy with an earlier reply
        turns.board.scoring(1)
        turns.board.scored(1, None)
        return [
            await _fused(turns, _Tentative(turn, 0.0), p, "Hello world.")
            for p, turn in itertools.product(GRID_AUDIO, (1, 2))
        ]

    assert asyncio.run(check()) == [None] * len(GRID_AUDIO) * 2


def test_with_a_score_the_fusion_decides_and_it_is_kept_for_the_rechecks(
    turn_model: EndOfTurn,
) -> None:
    async def check() -> tuple[list[bool], TurnEndScore | None, float | None]:
        turns = TurnTaking(turn_model, fusion=FUSION)
        turns.board.open(1)
        sure = TurnEndScore(p_end=0.999, p_stop=0.999, tokens=10)
        turns.board.scoring(1)
        turns.board.scored(1, sure)
        tentative = _Tentative(1, 0.0)
        decided = []
        for p in (0.01, 0.9):
            fused = await _fused(turns, tentative, p, "Tell me about the")
            decided.append(finished(turns, p, "Tell me about the", fused))
        turns.board.settle(1)  # the board forgets the turn; the tentative turn keeps its score
        again = await _fused(turns, tentative, 0.9, "Tell me about the")
        return decided, tentative.score, again

    decided, kept, again = asyncio.run(check())
    # the rule would never end on "the"; the fusion as weighted here goes by audio and words
    assert decided == [False, True] and kept is not None and again is not None
    f = features(0.9, kept, "Tell me about the")
    assert f.open_ending == 1.0 and FUSION.finished(f) and len(TurnFeatures.names()) == 5


# --- the score and the reply on one cache -----------------------------------------------


class WatchedBoard(TurnBoard):
    """A board that notes how many reply pieces had left the stage when a score came."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(wants_scores=True)
        self.recorder = recorder
        self.seen: list[tuple[int, TurnEndScore | None, int]] = []

    def scored(self, turn: int, score: TurnEndScore | None) -> None:
        pieces = sum(isinstance(f, TextFrame) for f in self.recorder.frames)
        self.seen.append((turn, score, pieces))
        super().scored(turn, score)


class Watcher(Recorder):
    """A recorder that calls ``hook`` with each frame as it arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.hook: Callable[[Frame], None] | None = None

    async def queue_frame(self, frame: Frame) -> None:
        if self.hook is not None:
            self.hook(frame)
        await super().queue_frame(frame)


async def until(done: Callable[[], bool]) -> None:
    """Wait for ``done``; the limit is only against a hang."""
    for _ in range(30000):
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


class Run:
    """An LLM stage (real model) between the test and a recorder, fed frame by frame."""

    def __init__(self, chat: LlamaChatModel, board: bool = False) -> None:
        options = ReplyOptions(SYSTEM, SamplerParams.greedy(), max_tokens=REPLY_TOKENS)
        self.recorder = Watcher()
        self.board = WatchedBoard(self.recorder) if board else None
        self.llm = LlmStage(chat, options, board=self.board)
        self.events: list[Event] = []
        self.pipeline = Pipeline([self.llm, self.recorder])
        self.pipeline.bus.listen(self.events.append)

    async def send(self, frame: Frame) -> None:
        await self.pipeline.queue_frame(frame)

    async def ask(self, turn: int, text: str, wait: str = "end") -> None:
        """Send the turn's words; wait for its reply's end, its first piece, or nothing."""
        await self.send(TranscriptFrame(turn_id=turn, text=text, speech_end_wall=0.0))
        kind = {"end": ReplyEndFrame, "piece": TextFrame}.get(wait)
        if kind is not None:
            frames = self.recorder.frames
            await until(lambda: any(isinstance(f, kind) and f.turn_id == turn for f in frames))

    async def finish(self) -> None:
        await self.send(EndFrame())
        await asyncio.wait_for(self.pipeline.wait(), 300)  # only against a hang

    def reply(self, turn: int) -> str:
        return next(e.text for e in self.events if isinstance(e, ReplyDone) and e.turn_id == turn)


def test_a_tentative_turn_is_scored_before_its_reply_which_reuses_the_scored_prompt(
    chat: LlamaChatModel,
) -> None:
    async def scenario() -> Run:
        run = Run(chat, board=True)
        await run.pipeline.start()
        assert run.board is not None
        run.board.open(1)
        await run.ask(1, "What is the capital of France?")
        # the decision may have it at once: scored, and the stage said it was on it
        assert await run.board.text_score(1, 0.0, 0.0) is not None
        await run.ask(2, "And of Spain?")  # not tentative: no score asked
        await run.finish()
        return run

    started = time.monotonic()
    run = asyncio.run(scenario())
    assert run.board is not None
    [(turn, score, pieces)] = run.board.seen
    assert turn == 1 and isinstance(score, TurnEndScore) and pieces == 0
    first = [ChatMessage("system", SYSTEM), ChatMessage("user", "What is the capital of France?")]
    assert score.tokens == len(open_prompt(chat.model, first))
    fresh = LlamaChatModel(chat.model, n_ctx=1024)
    try:
        assert run.reply(1) == greedy_reply(fresh, first)  # the score changed nothing of it
    finally:
        fresh.close()
    print(f"two turns with a score: {time.monotonic() - started:.2f} s")


def test_words_read_while_the_user_speaks_are_reused_by_the_reply(chat: LlamaChatModel) -> None:
    ctx = chat.context
    opened = open_prompt(chat.model, [ChatMessage("system", SYSTEM), ChatMessage("user", "So")])
    about = [ChatMessage("system", SYSTEM), ChatMessage("user", "Tell me about")]
    later = SpeculativeTranscriptFrame(text="Tell me about the history of", open=True)

    async def scenario() -> tuple[int, list[bool]]:
        run = Run(chat)
        await run.pipeline.start()
        await run.send(SpeculativeTranscriptFrame(text="Tell me about", open=True))
        await until(lambda: ctx.n_cached == len(open_prompt(chat.model, about)))
        read: list[bool] = []  # open words while a reply is being made: dropped, not queued

        def meanwhile(frame: Frame) -> None:
            if isinstance(frame, TextFrame) and not read:
                read.append(run.llm.turn_text.read_ahead(later))

        run.recorder.hook = meanwhile
        await run.ask(1, "Tell me about the history of Rome.")
        await run.finish()
        return ctx.last_reused, read

    reused, read = asyncio.run(scenario())
    assert reused >= len(open_prompt(chat.model, about)) > len(opened) and read == [False]


def test_the_second_turn_evaluates_only_its_new_tokens(chat: LlamaChatModel) -> None:
    ctx = chat.context
    first = [ChatMessage("system", SYSTEM), ChatMessage("user", "What is the capital of France?")]

    async def scenario() -> tuple[Run, list[int], list[int]]:
        run = Run(chat)
        await run.pipeline.start()
        evaluated, reused = [], []
        for turn, text in enumerate(["What is the capital of France?", "And of Spain?"], 1):
            before = ctx.n_evaluated
            await run.ask(turn, text)
            evaluated.append(ctx.n_evaluated - before)
            reused.append(ctx.last_reused)
        await run.finish()
        return run, evaluated, reused

    run, evaluated, reused = asyncio.run(scenario())
    second = [ChatMessage("system", SYSTEM), *run.llm.history[:3]]  # as turn 2 read it
    assert second[1:2] == first[1:] and second[3].content == "And of Spain?"
    prompts = [chat.prompt_tokens(first), chat.prompt_tokens(second)]
    assert reused[1] >= len(prompts[0])  # the first turn's prompt, and its reply after it
    assert evaluated[1] <= len(prompts[1]) - reused[1] + REPLY_TOKENS
    print(f"tokens evaluated per turn: {evaluated}; prompts {[len(p) for p in prompts]}")
    # the model layer reports the same through the reply's usage
    usage = Usage()
    request = TextRequest(max_tokens=REPLY_TOKENS, params=SamplerParams.greedy())
    "".join(chat.stream_chat(second, request, threading.Event(), usage))
    assert usage.cached_tokens == len(prompts[1]) - 1  # all of it: only the last token re-run


@pytest.mark.parametrize("how", ["withdrawn", "merged"])
def test_a_turn_taken_back_leaves_no_trace_in_the_cache(chat: LlamaChatModel, how: str) -> None:
    real = "Tell me about the history of Rome."

    async def scenario() -> Run:
        run = Run(chat, board=True)
        await run.pipeline.start()
        assert run.board is not None
        if how == "withdrawn":  # the user went on speaking while its reply was being made
            run.board.open(1)
            await run.ask(1, "Tell me about the weather in", wait="piece")
        else:  # confirmed and answered, then continued: the joined words come as turn 2
            await run.ask(1, "Tell me about the")
        await run.send(RetractFrame(turn_id=1))
        await run.ask(2, real)
        await run.finish()
        return run

    run = asyncio.run(scenario())
    fresh_history = [ChatMessage("system", SYSTEM), ChatMessage("user", real)]
    assert run.llm.history == [ChatMessage("user", real), ChatMessage("assistant", run.reply(2))]
    prompt = chat.prompt_tokens(fresh_history)
    chat.context.prefill(prompt)  # the cache holds exactly this render, and the reply after it
    assert chat.context.last_reused == len(prompt) - 1
    fresh = LlamaChatModel(chat.model, n_ctx=1024)
    try:
        assert run.reply(2) == greedy_reply(fresh, fresh_history)
    finally:
        fresh.close()


def test_the_setting_weighs_a_local_chat_models_opinion_only(
    models: Models, caplog: pytest.LogCaptureFixture
) -> None:
    on = config.load()  # the chat model's opinion is weighed by default
    local = turn_taking(on, models)
    assert local is not None and local.fusion == TurnFusion.load() and local.board.wants_scores
    off = turn_taking(config.load({"vad": {"turn_text": False}}), models)
    assert off is not None and off.fusion is None and not off.board.wants_scores
    quick = turn_taking(config.load({"vad": {"turn_text_threshold": 0.7}}), models)
    assert quick is not None and quick.fusion is not None and quick.fusion.threshold == 0.7
    _say_the_rule_decides.cache_clear()
    client = OpenAIClient("http://127.0.0.1:9/v1", "", httpx.Timeout(1.0))
    remote = RemoteChatModel(client, name="any")
    try:
        elsewhere = dataclasses.replace(models, llm=remote)
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                ruled = turn_taking(on, elsewhere)
                assert ruled is not None and ruled.fusion is None
                assert not ruled.board.wants_scores
        assert len([r for r in caplog.records if "turn_text" in r.message]) == 1
    finally:
        remote.close()
