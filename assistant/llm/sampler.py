"""A llama.cpp sampler chain built from SamplerParams."""

from __future__ import annotations

import random
from typing import Any

from assistant.llm.errors import ConfigurationError
from assistant.llm.grammar import Grammar
from assistant.llm.sampling import SamplerParams


def build_sampler(
    params: SamplerParams,
    n_vocab: int,
    n_ctx: int,
    grammar: Grammar | None = None,
    vocab: Any = None,
) -> Any:
    """The sampler chain for ``params``.

    The logit bias, penalties, the grammar (if any; over the model's ``vocab``), top-k,
    typical, top-p, min-p, temperature, and the draw (greedy at 0). ConfigurationError for a
    biased token id outside the vocabulary.
    """
    import llama_cpp
    from llama_cpp._internals import LlamaSampler

    constraint = grammar.sampler(vocab) if grammar is not None else None
    sampler = LlamaSampler()
    if params.logit_bias:
        if max(params.logit_bias) >= n_vocab:
            raise ConfigurationError(
                f"logit_bias: token {max(params.logit_bias)} is not in the vocabulary "
                f"(0..{n_vocab - 1})"
            )
        sampler.add_logit_bias(n_vocab, params.logit_bias)
    last_n = n_ctx if params.penalty_last_n < 0 else params.penalty_last_n
    sampler.add_penalties(
        n_vocab, last_n, params.penalty_repeat, params.penalty_freq, params.penalty_present
    )
    if constraint is not None:  # before the cut-offs, so they choose among allowed tokens
        llama_cpp.llama_sampler_chain_add(sampler.sampler, constraint)
    if params.temperature == 0:
        sampler.add_greedy()
        return sampler
    sampler.add_top_k(params.top_k)
    sampler.add_typical(params.typical_p, 1)
    sampler.add_top_p(params.top_p, 1)
    sampler.add_min_p(params.min_p, 1)
    sampler.add_temp(params.temperature)
    sampler.add_dist(params.seed or random.randrange(1, 2**32))
    return sampler
