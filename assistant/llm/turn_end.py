"""The chat model's opinion on whether the user's words end their message.

The reply's own prompt is read up to the user's last word, just before the token that ends a
message in the model's chat template, and the model's probability for that token comes next is
its opinion. The prompt read is a prefix of the reply's, so the cache it leaves behind serves
the reply: only the template's few tokens after the words remain to evaluate.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from assistant.llm.context import Context
from assistant.llm.model import Model
from assistant.llm.template import Message, as_dicts

# Whisper ends nearly every segment with a full stop, a cut-off one too: read with it, the
# words would nearly always look finished. A question mark is a cue of its own, for callers.
TRAILING = ".?!,…" + " \t\r\n"
STOPS = (".", "?", "!")  # marks that may end a sentence, each one token in the vocabularies seen
_MARKER = "\x01"  # stands for the user's words in a probe; no template writes it itself


@dataclass(frozen=True)
class TurnEndScore:
    """How likely the chat model finds it that the user's message ends after their words."""

    p_end: float  # P(end-of-message token) right after the words, 0..1
    p_stop: float  # p_end plus P(".") + P("?") + P("!"): the sentence may end here, 0..1
    tokens: int  # tokens of the prompt read (the reply's prompt up to the words)


@dataclass(frozen=True)
class EndTokens:
    """The token that ends a message in a model's chat template, and the sentence-final marks."""

    end: int
    stops: tuple[int, ...]  # single-token ".", "?" and "!" (a mark of several tokens left out)


_probed: weakref.WeakKeyDictionary[Model, EndTokens | None] = weakref.WeakKeyDictionary()


def end_tokens(model: Model) -> EndTokens | None:
    """The end-of-message token found by rendering a probe; None if the template has none.

    The text that follows a user message in the template must start with a token that ends
    generation (``<|im_end|>`` for ChatML); a template that ends messages otherwise gives no
    opinion rather than a wrong one.
    """
    if model in _probed:
        return _probed[model]
    rendered = model.apply_chat_template([("user", _MARKER)], add_generation_prompt=False)
    after = rendered[rendered.index(_MARKER) + 1 :] if _MARKER in rendered else ""
    found = model.tokenize(after, add_bos=False, special=True)[:1]
    result = None
    if found and model.token_is_eog(found[0]):
        marks = [model.tokenize(m, add_bos=False, special=False) for m in STOPS]
        result = EndTokens(found[0], tuple(t[0] for t in marks if len(t) == 1))
    _probed[model] = result
    return result


def open_prompt(model: Model, messages: Iterable[Message]) -> list[int]:
    """The reply's prompt for ``messages`` as tokens, cut right after the user's last word.

    ``messages`` end with the user's (maybe partial) words; their trailing punctuation is left
    out (``TRAILING``), the punctuation inside them and every earlier message are kept as the
    reply reads them, so the result is a prefix of the reply's prompt. ValueError when the last
    message is not the user's.
    """
    dicts = as_dicts(messages)
    if not dicts or dicts[-1]["role"] != "user":
        raise ValueError("the last message must be the user's words")
    dicts[-1] = {"role": "user", "content": dicts[-1]["content"].rstrip(TRAILING) + _MARKER}
    rendered = model.apply_chat_template(dicts, add_generation_prompt=False)
    return model.tokenize(rendered[: rendered.rindex(_MARKER)], add_bos=True, special=True)


def score(context: Context, messages: Iterable[Message]) -> TurnEndScore | None:
    """The model's opinion on ``messages`` ending here; None where its template gives none.

    Runs on ``context`` (waiting for the call on it, if any) and leaves its cache holding the
    open prompt (``open_prompt``), which a reply to the same messages then reuses.
    """
    ends = end_tokens(context.model)
    if ends is None:
        return None
    tokens = open_prompt(context.model, messages)
    p = context.next_token_probabilities(tokens, (ends.end, *ends.stops))
    return TurnEndScore(p_end=p[0], p_stop=min(1.0, sum(p)), tokens=len(tokens))
