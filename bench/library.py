"""Library API benchmark against bare llama-cpp-python, in one run (``make bench-library``).

- decode tokens/s and time to first token of ``Context.generate_stream`` vs
  ``Llama.create_completion(stream=True)`` on the same prompt tokens (greedy, 64 tokens);
- ``EmbeddingGenerator.embed_batch`` vs a loop of ``embed`` on 64 sentences;
- ``AsyncModel`` throughput with 4 concurrent callers (pool of 2) vs one caller at a time.
Prints a table and JSON (also bench/results/library.json). Target: tokens/s ratio >= 0.97.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant import AsyncModel, Context, EmbeddingGenerator, Model, SamplerParams
from assistant.catalog import ModelStore

PROMPTS = [
    "Tell me about the ocean.",
    "How do plants grow?",
    "What is a computer?",
    "Describe a city at night.",
]
TOKENS = 64
RUNS = 3


def _timed_stream(stream: Iterator[str]) -> tuple[float, float]:
    """(time to first piece, decode tokens/s after it); empty pieces are not counted."""
    start = time.perf_counter()
    first, n = 0.0, 0
    for piece in stream:
        if piece:
            n += 1
            if n == 1:
                first = time.perf_counter()
    end = time.perf_counter()
    return first - start, (n - 1) / (end - first) if n > 1 else 0.0


def bench_generation(path: Path) -> dict[str, float]:
    from llama_cpp import Llama

    model = Model.load(path)
    ctx = Context(model, n_ctx=1024, n_batch=512)
    threads = os.cpu_count() or 1  # the same threads as ours (Llama's default is half the cores)
    bare = Llama(
        model_path=str(path),
        n_ctx=1024,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    ours_ttft, ours_tps, bare_ttft, bare_tps = [], [], [], []
    for text in PROMPTS:
        tokens = model.tokenize(model.apply_chat_template([("user", text)]), special=True)
        for _ in range(RUNS):
            ctx.clear_cache()
            t, r = _timed_stream(ctx.generate_stream(tokens, TOKENS, SamplerParams.greedy()))
            ours_ttft.append(t)
            ours_tps.append(r)
            bare.reset()
            chunks = bare.create_completion(
                tokens, max_tokens=TOKENS, stream=True, temperature=0.0, top_k=1
            )
            t, r = _timed_stream(c["choices"][0]["text"] for c in chunks)  # type: ignore[index, union-attr]
            bare_ttft.append(t)
            bare_tps.append(r)
    ours, theirs = statistics.median(ours_tps), statistics.median(bare_tps)
    return {
        "ours_tok_s": ours,
        "bare_tok_s": theirs,
        "ratio": ours / theirs,
        "ours_ttft_ms": 1000 * statistics.median(ours_ttft),
        "bare_ttft_ms": 1000 * statistics.median(bare_ttft),
    }


def bench_embeddings(path: Path) -> dict[str, float]:
    generator = EmbeddingGenerator(Model.load(path), n_ctx=256)
    texts = [
        f"Sentence {i} is about {('rivers', 'music', 'engines', 'bread')[i % 4]} and more."
        for i in range(64)
    ]
    generator.embed(texts[0])
    start = time.perf_counter()
    for text in texts:
        generator.embed(text)
    loop = time.perf_counter() - start
    start = time.perf_counter()
    generator.embed_batch(texts)
    batch = time.perf_counter() - start
    return {"texts": len(texts), "loop_s": loop, "batch_s": batch, "speedup": loop / batch}


def bench_async(path: Path) -> dict[str, float]:
    async def run() -> dict[str, float]:
        model = await AsyncModel.load(path, pool_size=2, n_ctx=512)
        prompts = [model.model.apply_chat_template([("user", p)]) for p in PROMPTS]
        params = SamplerParams.greedy()
        start = time.perf_counter()
        for p in prompts:
            await model.generate(p, TOKENS, params)
        serial = time.perf_counter() - start
        start = time.perf_counter()
        await asyncio.gather(*(model.generate(p, TOKENS, params) for p in prompts))
        concurrent = time.perf_counter() - start
        await model.close()
        return {
            "callers": len(prompts),
            "serial_s": serial,
            "concurrent_s": concurrent,
            "speedup": serial / concurrent,
        }

    return asyncio.run(run())


def main() -> None:
    path = ModelStore().resolve("llm").path
    results: dict[str, Any] = {
        "generation": bench_generation(path),
        "embeddings": bench_embeddings(path),
        "async": bench_async(path),
    }
    results["pass"] = {"tokens_per_second_ratio": results["generation"]["ratio"] >= 0.97}
    g, e, a = results["generation"], results["embeddings"], results["async"]
    print(f"{'':<34}{'ours':>10}{'bare':>10}{'ratio':>8}")
    print(
        f"{'decode tokens/s':<34}{g['ours_tok_s']:>10.1f}{g['bare_tok_s']:>10.1f}{g['ratio']:>8.3f}"
    )
    print(f"{'time to first token (ms)':<34}{g['ours_ttft_ms']:>10.1f}{g['bare_ttft_ms']:>10.1f}")
    print(f"embed_batch vs loop, {e['texts']} texts: {e['batch_s']:.2f} s vs {e['loop_s']:.2f} s")
    print(f"  speed-up {e['speedup']:.2f}x")
    print(f"async, {a['callers']} callers, pool of 2: {a['concurrent_s']:.2f} s")
    print(f"  one at a time {a['serial_s']:.2f} s, speed-up {a['speedup']:.2f}x")
    print(
        "targets:", ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in results["pass"].items())
    )
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / "library.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
