"""The async API: pooled concurrency, streaming backpressure, cancellation, timeouts, batches."""

import asyncio
import contextlib
import time

import pytest

from assistant import SamplerParams
from assistant.catalog import ModelStore
from assistant.llm.aio import AsyncModel, BatchGenerationConfig, GenerationResult

PATH = ModelStore().resolve("llm").path


def prompt(model: AsyncModel, text: str) -> str:
    return model.model.apply_chat_template([("user", text)])


def test_concurrent_callers_get_the_same_answers_as_one_at_a_time() -> None:
    async def scenario() -> tuple[list[str], list[str], dict[str, object]]:
        model = await AsyncModel.load(PATH, pool_size=2, n_ctx=512)
        names = ("Name a colour.", "Name an animal.", "Name a city.", "Say hi.")
        questions = [prompt(model, q) for q in names]
        greedy = SamplerParams.greedy()
        together = await asyncio.gather(*(model.generate(q, 24, greedy) for q in questions))
        alone = [await model.generate(q, 24, greedy) for q in questions]
        info = model.info()
        await model.close()
        return list(together), alone, info

    together, alone, info = asyncio.run(scenario())
    assert together == alone and all(together)
    assert info["pool_size"] == 2 and info["contexts_free"] == 2
    assert info["architecture"] == "llama"


def test_breaking_out_of_a_stream_frees_the_context_at_once() -> None:
    async def scenario() -> tuple[int, int, str]:
        model = await AsyncModel.load(PATH, pool_size=1, n_ctx=512)
        story = prompt(model, "Tell me a very long story about a dragon.")
        (ctx,) = list(model.pool._free.queue)
        start = len(model.model.tokenize(story, special=True))
        stream = model.generate_stream(story, 300, SamplerParams.greedy())
        async with contextlib.aclosing(stream):
            async for _piece in stream:
                break
        free = model.pool.available  # closed deterministically: the context is back already
        async for _piece in model.generate_stream(story, 300, SamplerParams.greedy()):
            break  # a plain break: Python closes the stream a moment later
        deadline = time.monotonic() + 60  # only against a hang; the speed is bench/library.py's
        while model.pool.available == 0:
            assert time.monotonic() < deadline, "the abandoned stream never gave its context back"
            await asyncio.sleep(0.01)
        made = ctx.n_cached - start  # what the abandoned stream generated before it stopped
        again = await model.generate(prompt(model, "Say hi."), 8, SamplerParams.greedy())
        return free, made, again

    free, made, again = asyncio.run(scenario())
    assert free == 1 and again and made < 300 // 10, made  # stopped, not run to its 300 tokens


def test_timeout_stops_generation_and_frees_the_context() -> None:
    async def scenario() -> int:
        model = await AsyncModel.load(PATH, pool_size=1, n_ctx=512)
        story = prompt(model, "Tell me a very long story about a dragon.")
        with pytest.raises(TimeoutError):
            await model.generate(story, 400, SamplerParams.greedy(), timeout=0.2)
        return model.pool.available

    assert asyncio.run(scenario()) == 1


def test_backpressure_keeps_the_generator_close_to_the_reader() -> None:
    async def scenario() -> int:
        model = await AsyncModel.load(PATH, pool_size=1, n_ctx=512)
        story = prompt(model, "Tell me a very long story about a dragon.")
        (ctx,) = list(model.pool._free.queue)
        start = len(model.model.tokenize(story, special=True))
        stream = model.generate_stream(story, 300, SamplerParams.greedy(), buffer=2)
        await stream.__anext__()
        await asyncio.sleep(1.0)  # a slow reader: the producer must wait, not run 300 tokens ahead
        ahead = ctx.n_cached - start
        await stream.aclose()
        return ahead

    assert asyncio.run(scenario()) <= 6


def test_batch_generate_keeps_order_and_isolates_failures() -> None:
    async def scenario() -> tuple[list[GenerationResult], list[list[int]]]:
        model = await AsyncModel.load(PATH, pool_size=2, n_ctx=256)
        prompts = [prompt(model, "Name a colour."), "word " * 600, prompt(model, "Name a fruit.")]
        config = BatchGenerationConfig(
            max_tokens=12, params=SamplerParams.greedy(), retry_attempts=1
        )
        results = await model.batch_generate(prompts, config)
        tokens = await model.batch_tokenize(["a b", "hello"])
        return results, tokens

    results, tokens = asyncio.run(scenario())
    assert [r.index for r in results] == [0, 1, 2]
    ok, failed, ok2 = results
    assert ok.ok and ok2.ok and ok.text
    assert not failed.ok and failed.error and "context window" in failed.error
    assert failed.attempts == 2
    assert len(tokens) == 2 and tokens[1]
