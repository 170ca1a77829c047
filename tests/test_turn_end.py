"""The chat model's opinion on the end of a message, and the KV cache it leaves for the reply.

Real SmolLM2 throughout. Cache reuse is proved by counting the tokens llama.cpp evaluated
(``Context.n_evaluated``, ``last_reused``), never by timing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from assistant.llm.context import Context
from assistant.llm.model import Model
from assistant.llm.sampling import SamplerParams
from assistant.llm.turn_end import TurnEndScore, end_tokens, open_prompt, score
from assistant.models.llama_chat import LlamaChatModel
from assistant.models.loaders import Models
from assistant.models.openai_client import OpenAIClient
from assistant.models.remote_chat import RemoteChatModel
from assistant.models.request import TextRequest
from assistant.models.seeing import Eyes, SeeingChatModel
from assistant.types import ChatMessage

SYSTEM = ChatMessage("system", "You are a voice assistant. Answer in one short sentence.")
HISTORY = [
    SYSTEM,
    ChatMessage("user", "What is the capital of France?"),
    ChatMessage("assistant", "The capital of France is Paris."),
]
# As Whisper writes them: a full stop after the cut-off words too.
FINISHED = ["Hello world.", "Thanks.", "Yes."]
UNFINISHED = ["Tell me about the.", "I want to."]


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


def said(words: str, history: list[ChatMessage] | None = None) -> list[ChatMessage]:
    return [*(history if history is not None else [SYSTEM]), ChatMessage("user", words)]


def reply(chat: LlamaChatModel, messages: list[ChatMessage], max_tokens: int = 4) -> str:
    request = TextRequest(max_tokens=max_tokens, params=SamplerParams.greedy())
    return "".join(chat.stream_chat(messages, request, threading.Event()))


def test_the_probe_finds_the_end_of_message_token_and_single_token_marks(model: Model) -> None:
    ends = end_tokens(model)
    assert ends is not None
    assert [ends.end] == model.tokenize("<|im_end|>", add_bos=False, special=True)
    assert model.token_is_eog(ends.end)
    assert [model.detokenize([t]) for t in ends.stops] == [".", "?", "!"]


@pytest.mark.parametrize("history", [[SYSTEM], HISTORY, []], ids=["system", "history", "bare"])
@pytest.mark.parametrize("words", [*FINISHED, *UNFINISHED, "What is it?", "So, um… well,"])
def test_the_open_prompt_is_the_reply_prompt_cut_after_the_words(
    chat: LlamaChatModel, history: list[ChatMessage], words: str
) -> None:
    messages = said(words, history)
    opened, full = open_prompt(chat.model, messages), chat.prompt_tokens(messages)
    assert opened == full[: len(opened)]
    tail = chat.model.detokenize(full[len(opened) :], unparse_special=True)
    bare = words.rstrip(".?!,… ")
    assert tail == words[len(bare) :] + "<|im_end|>\n<|im_start|>assistant\n"
    assert open_prompt(chat.model, said(bare, history)) == opened  # Whisper's "." changes nothing


def test_the_open_prompt_needs_the_users_words_last(model: Model) -> None:
    with pytest.raises(ValueError, match="user"):
        open_prompt(model, HISTORY)
    with pytest.raises(ValueError, match="user"):
        open_prompt(model, [])


def test_next_token_probabilities_are_a_distribution_led_by_the_greedy_token(
    chat: LlamaChatModel,
) -> None:
    ctx, vocab = chat.context, chat.model.n_vocab
    prompt = chat.prompt_tokens(said("Name a fruit."))
    p = ctx.next_token_probabilities(prompt, range(vocab))
    assert sum(p) == pytest.approx(1.0, abs=1e-4) and min(p) >= 0.0 and max(p) <= 1.0
    best = max(range(vocab), key=p.__getitem__)
    plain = SamplerParams(temperature=0, penalty_repeat=1.0)  # greedy() keeps a repeat penalty
    assert ctx.generate(prompt, 1, plain) == chat.model.detokenize([best])
    with pytest.raises(RuntimeError, match="vocabulary"):
        ctx.next_token_probabilities(prompt, [vocab])
    with pytest.raises(RuntimeError, match="empty"):
        ctx.next_token_probabilities([], [0])


@pytest.mark.parametrize("history", [[SYSTEM], HISTORY], ids=["system", "history"])
def test_finished_words_score_above_cut_off_words(
    chat: LlamaChatModel, history: list[ChatMessage]
) -> None:
    scores = {w: chat.turn_end(said(w, history)) for w in FINISHED + UNFINISHED}
    for w, s in scores.items():
        assert isinstance(s, TurnEndScore), w
        assert 0.0 <= s.p_end <= s.p_stop <= 1.0, (w, s)
    table = {w: (f"{s.p_end:.2e}", f"{s.p_stop:.2e}") for w, s in scores.items() if s}
    for name in ("p_end", "p_stop"):
        done = min(getattr(scores[w], name) for w in FINISHED)
        cut = max(getattr(scores[w], name) for w in UNFINISHED)
        # measured: at least 500 times apart, for both numbers, with and without history
        assert done > 100 * cut, (name, table)


def test_a_reply_after_the_score_evaluates_only_the_tokens_after_the_words(
    chat: LlamaChatModel,
) -> None:
    ctx = chat.context
    first = said("What is the capital of France?")
    opened = chat.turn_end(first)
    assert opened is not None and ctx.n_cached == opened.tokens
    before = ctx.n_evaluated
    answer = reply(chat, first)
    prompt = chat.prompt_tokens(first)
    assert ctx.last_reused == opened.tokens
    tail = len(prompt) - opened.tokens
    assert tail == 7  # "?", <|im_end|>, "\n", <|im_start|>, "ass", "istant", "\n"
    assert ctx.n_evaluated - before == tail + ctx.n_generated
    # The next turn reuses the first one's prompt (and its reply, as far as it tokenizes back).
    second = [*first, ChatMessage("assistant", answer), ChatMessage("user", "And of Spain.")]
    before = ctx.n_evaluated
    again = chat.turn_end(second)
    assert again is not None and ctx.last_reused >= len(prompt)
    assert ctx.n_evaluated - before == again.tokens - ctx.last_reused


def test_withdrawn_words_roll_the_cache_back_to_the_common_prefix(
    chat: LlamaChatModel, model: Model
) -> None:
    ctx = chat.context
    partial, longer = said("Tell me about"), said("Tell me about the sea")
    other = said("Tell me a joke about cats.")
    first = open_prompt(model, partial)
    chat.turn_end(partial)
    chat.turn_end(longer)  # more words: everything read so far is kept
    assert ctx.last_reused == len(first)
    before = ctx.n_evaluated
    withdrawn = chat.turn_end(other)  # other words: back to where they part
    target = open_prompt(model, other)
    read = open_prompt(model, longer)
    common = next(i for i, (a, b) in enumerate(zip(read, target, strict=False)) if a != b)
    assert len(target) - common == 4  # " a", " joke", " about", " cats"
    assert common < len(first) and ctx.last_reused == common
    assert ctx.n_evaluated - before == len(target) - common and ctx.n_cached == len(target)
    fresh = Context(model, n_ctx=1024)
    anew = score(fresh, other)
    fresh.close()
    assert withdrawn is not None and anew is not None and withdrawn.tokens == anew.tokens
    assert (withdrawn.p_end, withdrawn.p_stop) == pytest.approx((anew.p_end, anew.p_stop), rel=1e-3)


def test_a_prompt_the_cache_holds_whole_re_evaluates_one_token(chat: LlamaChatModel) -> None:
    ctx, tokens = chat.context, chat.prompt_tokens(said("Hi."))
    ctx.prefill(tokens)
    before = ctx.n_evaluated
    ctx.prefill(tokens)  # its last token again, so that fresh logits exist
    assert (ctx.last_reused, ctx.n_evaluated - before) == (len(tokens) - 1, 1)


def test_a_cache_that_refuses_a_partial_removal_is_read_again_from_the_start(
    chat: LlamaChatModel, model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    # llama.cpp refuses (False, nothing removed) to cut a recurrent model's state at a
    # position; SmolLM2's cache never does, so the refusal is played here.
    ctx, greedy = chat.context, SamplerParams.greedy()
    first, second = chat.prompt_tokens(said("Hi.")), chat.prompt_tokens(said("Name a colour."))
    ctx.prefill(first)
    monkeypatch.setattr(ctx._ctx, "kv_cache_seq_rm", lambda seq, p0, p1: False)
    before = ctx.n_evaluated
    ctx.prefill(second)
    assert (ctx.last_reused, ctx.n_evaluated - before, ctx.n_cached) == (
        0,
        len(second),
        len(second),
    )
    monkeypatch.undo()
    fresh = Context(model, n_ctx=1024)
    assert ctx.generate(second, 12, greedy) == fresh.generate(second, 12, greedy)
    fresh.close()


def test_the_capability_is_declared(chat: LlamaChatModel) -> None:
    assert chat.scores_turn_end and LlamaChatModel.scores_turn_end
    seeing = SeeingChatModel(chat, None, Eyes())
    seen, own = seeing.turn_end(said("Thanks.")), chat.turn_end(said("Thanks."))
    assert seeing.scores_turn_end and seen is not None and own is not None
    assert (seen.tokens, seen.p_end) == (own.tokens, pytest.approx(own.p_end, rel=1e-3))
    client = OpenAIClient("http://127.0.0.1:9/v1", "", httpx.Timeout(1.0))
    remote = RemoteChatModel(client, name="any")
    try:
        assert not remote.scores_turn_end and remote.turn_end(said("Thanks.")) is None
        assert not SeeingChatModel(remote, None, Eyes()).scores_turn_end  # type: ignore[arg-type]
    finally:
        remote.close()
