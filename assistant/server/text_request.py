"""The server's edge to the text backends: a request body as the models layer's TextRequest.

The backends (models/text.py, models/remote.py) and their chat models know nothing of the
wire: what a client sent is read here, once, into sampler fields, stop strings, the grammar and
what a remote server is relayed (the fields the client set, its structured output, its tool
messages as they came).
"""

from __future__ import annotations

import dataclasses

from assistant.models.request import TextRequest
from assistant.server.schemas import ChatRequest, Sampling
from assistant.server.tools import relayed_tools

# The sampler fields relayed to a remote server when a client sets them.
_SAMPLER_FIELDS = {
    "logit_bias",
    "temperature",
    "top_k",
    "top_p",
    "min_p",
    "typical_p",
    "repeat_penalty",
    "frequency_penalty",
    "presence_penalty",
    "seed",
}


def text_request(req: Sampling, relayed: bool = False) -> TextRequest:
    """``req`` as the text backends take it (InputError naming a bad field).

    ``relayed``: for a remote server, which also gets the fields the client set, its
    structured output and its tool messages as they came (a local model needs none of them).
    """
    asked = TextRequest(
        max_tokens=req.max_tokens, params=req.params(), stop=req.stops(), grammar=req.grammar()
    )
    if not relayed:
        return asked
    sampling = req.model_dump(include=_SAMPLER_FIELDS, exclude_none=True)
    if not sampling.get("seed"):  # 0 means a random seed here, a fixed one elsewhere
        sampling.pop("seed", None)
    tools = isinstance(req, ChatRequest) and bool(req.tools)
    return dataclasses.replace(
        asked,
        grammar=None,  # checked above; a remote server is sent the format or tools instead
        relayed_sampling=sampling,
        response_format=req.relayed_format(),
        relayed_chat=relayed_tools(req) if tools else None,
    )
