"""Grammar-constrained decoding against free decoding, in one run (``make bench-grammar``).

The same prompts, the same context, greedy and sampled at 0.9, 96 tokens at most: free
decoding, then held to a JSON schema (bench/grammar.py's PERSON), then to any JSON object,
interleaved prompt by prompt. Tokens/s counts the tokens each generation produced over its
time after the prompt was evaluated (the prompt is cached before each timed run, so only
decoding is timed). Prints a table and JSON (also bench/results/grammar.json).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from assistant import Context, Grammar, Model, SamplerParams
from assistant.catalog import ModelStore

REPO = Path(__file__).resolve().parents[1]
PROMPTS = ["Describe a person.", "Tell me about your neighbour.", "Who is your best friend?"]
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "hobbies": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age", "hobbies"],
}
TOKENS, ROUNDS = 96, 3


def timed(ctx: Context, prompt: str, params: SamplerParams, grammar: Grammar | None) -> float:
    """Decode tokens/s of one generation (its prompt already in the cache)."""
    tokens = ctx.model.tokenize(prompt, add_bos=True, special=True)
    ctx.prefill(tokens)
    start, count = time.perf_counter(), 0
    for _ in ctx.generate_stream(prompt, TOKENS, params, grammar=grammar):
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    model = Model.load(ModelStore().resolve("llm").path)
    ctx = Context(model, n_ctx=1024)
    kinds: dict[str, Grammar | None] = {
        "free": None,
        "json schema": Grammar.from_json_schema(PERSON),
        "json object": Grammar.json_object(),
    }
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(ROUNDS):
        for text in PROMPTS:
            prompt = model.apply_chat_template([("user", text)])
            for temperature in (0.0, 0.9):
                params = SamplerParams(temperature=temperature, seed=5)
                for kind, grammar in kinds.items():
                    rates[kind].append(timed(ctx, prompt, params, grammar))
    result: dict[str, Any] = {k: statistics.median(v) for k, v in rates.items()}
    result["ratios_vs_free"] = {k: result[k] / result["free"] for k in kinds if k != "free"}
    print(f"{'decoding':14s} {'tokens/s p50':>13s} {'vs free':>8s}")
    for kind in kinds:
        ratio = result[kind] / result["free"]
        print(f"{kind:14s} {result[kind]:13.1f} {ratio:7.2f}x")
    print(json.dumps(result))
    out = REPO / "bench" / "results" / "grammar.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
