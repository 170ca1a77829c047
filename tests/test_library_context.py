"""Context: generation, streaming, sampling determinism, stop strings, cache and state."""

import json
import threading
import time
from pathlib import Path

import pytest

from assistant import ContextOverflowError, Grammar, Model, SamplerParams
from assistant.catalog import ModelStore
from assistant.llm.context import Context
from assistant.llm.errors import Interrupted
from assistant.llm.textstream import TextAssembler


@pytest.fixture(scope="module")
def model() -> Model:
    return Model.load(ModelStore().resolve("llm").path)


@pytest.fixture(scope="module")
def ctx(model: Model) -> Context:
    return Context(model, n_ctx=1024, n_batch=256)


def chat(model: Model, text: str) -> str:
    return model.apply_chat_template([("user", text)])


def test_greedy_is_deterministic_and_streaming_equals_whole(model: Model, ctx: Context) -> None:
    prompt = chat(model, "Name three fruits.")
    whole = ctx.generate(prompt, 40, SamplerParams.greedy())
    pieces = list(ctx.generate_stream(prompt, 40, SamplerParams.greedy()))
    assert whole and "".join(pieces) == whole
    assert len(pieces) > 3
    assert ctx.generate(prompt, 40, SamplerParams.greedy()) == whole


@pytest.mark.parametrize("preset", ["default", "creative"])
def test_same_seed_same_output(model: Model, ctx: Context, preset: str) -> None:
    params = SamplerParams.preset(preset)
    params.seed = 99
    prompt = chat(model, "Write a short poem about rain.")
    assert ctx.generate(prompt, 30, params) == ctx.generate(prompt, 30, params)


def test_max_tokens_and_stop_strings(model: Model, ctx: Context) -> None:
    prompt = chat(model, "Count from one to twenty, separated by commas.")
    full = ctx.generate(prompt, 60, SamplerParams.greedy())
    short = ctx.generate(prompt, 3, SamplerParams.greedy())
    assert len(model.tokenize(short, add_bos=False)) <= 4 and full.startswith(short)
    stop = full.split()[3]  # a word from the middle of the greedy reply
    cut = ctx.generate(prompt, 60, SamplerParams.greedy(), stop=[stop])
    assert cut == full[: full.index(stop)]


def test_a_reply_cut_by_the_limit_says_length_with_every_token_counted(
    model: Model, ctx: Context
) -> None:
    # JSON held to a grammar, sampled hot: the grammar makes the model write pieces (a line
    # break, then the blanks) that the tokenizer joins again, so the reply's text tokenized
    # anew can come out shorter than the tokens drawn; the count must be the drawn one.
    prompt = chat(model, "Write a long story about a dragon, as JSON.")
    reasons = []
    for seed in (1, 2, 3):
        params = SamplerParams(temperature=0.9, seed=seed)
        text = ctx.generate(prompt, 40, params, grammar=Grammar.json_object())
        reasons.append(ctx.finish_reason)
        if ctx.finish_reason == "length":
            assert ctx.n_generated == 40, text
        else:
            assert ctx.finish_reason == "stop" and ctx.n_generated < 40, text
            assert isinstance(json.loads(text), dict), text
    assert "length" in reasons
    text = ctx.generate(chat(model, "Tell me a long story about the sea."), 12)
    assert (ctx.finish_reason, ctx.n_generated) == ("length", 12), text
    stream = ctx.generate_stream(chat(model, "Tell me a long story about the sea."), 50)
    next(stream)
    stream.close()  # the reader left: not a reply that ran to its limit
    assert ctx.finish_reason == "cancelled"


def test_no_limit_runs_until_the_window_is_full(model: Model) -> None:
    small = Context(model, n_ctx=256)
    counting, n = "1,", 1  # greedy, it counts on for ever; 16 tokens of room are left
    while len(model.tokenize(counting)) < small.n_ctx - 16:
        n += 1
        counting += f" {n},"
    text = small.generate(counting, None, SamplerParams.greedy())
    assert small.finish_reason == "length" and small.n_cached == small.n_ctx, text
    assert small.n_generated == small.n_ctx - len(model.tokenize(counting))


def test_token_prompt_and_cache_reuse(model: Model, ctx: Context) -> None:
    tokens = model.tokenize(chat(model, "Say hi."), special=True)
    assert ctx.generate(tokens, 10, SamplerParams.greedy()) == ctx.generate(
        model.detokenize(tokens, unparse_special=True), 10, SamplerParams.greedy()
    )
    ctx.clear_cache()
    assert ctx.n_cached == 0


def test_prompt_longer_than_the_window_is_a_clear_error(model: Model) -> None:
    small = Context(model, n_ctx=256)
    with pytest.raises(ContextOverflowError, match="context window") as err:
        small.generate("word " * 600, 5)
    assert isinstance(err.value, ValueError) and isinstance(err.value, RuntimeError)


def _read_long_prompt(ctx: Context, tokens: list[int], outcome: list[BaseException]) -> None:
    try:
        ctx.prefill(tokens)
    except Exception as exc:
        outcome.append(exc)


def test_interrupt_stops_a_prompt_being_read_and_leaves_the_cache_usable(model: Model) -> None:
    # A prompt is read in one llama.cpp call; interrupt stops it inside that call.
    ctx, fresh = Context(model, n_ctx=2048), Context(model, n_ctx=2048)
    start = model.tokenize(chat(model, "Name three fruits."), special=True)
    ctx.prefill(start)
    outcome: list[BaseException] = []
    reading = threading.Thread(
        target=_read_long_prompt, args=(ctx, start + model.tokenize("sea " * 1800), outcome)
    )
    reading.start()
    while reading.is_alive():  # one that lands before the call begins is not for it
        ctx.interrupt()
        time.sleep(0.005)
    assert len(outcome) == 1 and isinstance(outcome[0], Interrupted), outcome
    assert ctx.n_cached == len(start)  # what the call had not finished is not kept
    greedy = SamplerParams.greedy()
    assert ctx.generate(start, 12, greedy) == fresh.generate(start, 12, greedy)
    ctx.prefill(start)
    ctx.interrupt()  # with no call running it stops nothing later
    assert ctx.generate(start, 12, greedy) == fresh.generate(start, 12, greedy)


def test_close_stops_the_call_in_progress_before_freeing(model: Model) -> None:
    ctx = Context(model, n_ctx=2048)
    outcome: list[BaseException] = []
    reading = threading.Thread(
        target=_read_long_prompt, args=(ctx, model.tokenize("sea " * 1800), outcome)
    )
    reading.start()
    while not ctx._busy.locked():  # the call has begun
        time.sleep(0.001)
    time.sleep(0.02)  # and is inside llama.cpp, reading a prompt that takes far longer
    ctx.close()
    reading.join()
    assert len(outcome) == 1 and isinstance(outcome[0], Interrupted), outcome


def test_state_save_and_load_reproduce_the_continuation(
    model: Model, ctx: Context, tmp_path: Path
) -> None:
    prompt = chat(model, "Tell me about the sea.")
    ctx.clear_cache()
    ctx.decode(model.tokenize(prompt, special=True))
    path = tmp_path / "state.bin"
    ctx.save_state(path)
    expected = ctx.generate(prompt, 20, SamplerParams.greedy())
    other = Context(model, n_ctx=1024)
    other.load_state(path)
    assert other.n_cached == len(model.tokenize(prompt, special=True))
    assert other.generate(prompt, 20, SamplerParams.greedy()) == expected


def test_stream_pieces_never_split_a_character() -> None:
    assembler = TextAssembler()
    data = "é🙂日".encode()
    pieces = [assembler.push(data[i : i + 1]) for i in range(len(data))]
    assert "".join(pieces) + assembler.finish() == "é🙂日"
    assert all(p == "" or p in ("é", "🙂", "日") for p in pieces)


def test_stop_string_split_across_pieces_is_held_back() -> None:
    assembler = TextAssembler(["STOP"])
    out = [assembler.push(p.encode()) for p in ["Hello S", "T", "OP and more"]]
    assert "".join(out) == "Hello " and assembler.stopped and assembler.finish() == ""


def test_context_embeddings(model: Model) -> None:
    import numpy as np

    ctx = Context(model, n_ctx=256, embeddings=True)
    ctx.decode(model.tokenize("A short sentence."))
    vector = ctx.get_embeddings()
    assert vector.shape == (model.n_embd,) and vector.dtype == np.float32
    with pytest.raises(RuntimeError, match="embeddings=True"):
        Context(model, n_ctx=256).get_embeddings()
