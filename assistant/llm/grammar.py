"""Constrained generation: output that follows a grammar, so JSON parses by construction.

llama.cpp's grammar sampler masks every token that would leave the grammar (and the end of
generation until the grammar is complete), whatever the model. A ``Grammar`` comes from a JSON
schema (through llama-cpp-python's schema-to-GBNF converter, see ``json_grammar``), from GBNF
text, or is "any JSON object". Whitespace between JSON tokens is bounded, so a small model
cannot pad its output until the limit. Output can still stop short at the token limit;
``finish_reason`` then says ``length``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from assistant.llm.errors import ConfigurationError


@dataclass(frozen=True)
class Grammar:
    """A GBNF grammar whose start rule is ``root``."""

    gbnf: str
    root: str = "root"
    schema: str | None = None  # the JSON schema it was made from, if any (for remote servers)

    @classmethod
    def from_gbnf(cls, text: str) -> Grammar:
        """A grammar written in llama.cpp's GBNF (checked when generation starts)."""
        if not isinstance(text, str) or "::=" not in text:
            raise ConfigurationError("a GBNF grammar needs at least one rule: root ::= ...")
        return cls(text)

    @classmethod
    def from_json_schema(cls, schema: dict[str, Any] | str) -> Grammar:
        """Output that is a JSON document valid against ``schema``.

        ConfigurationError for a schema that cannot be turned into a grammar (an unknown type,
        a ``$ref`` that does not resolve, an unsupported ``pattern``, a keyword the grammar
        cannot hold such as ``multipleOf`` or a bound on a non-integer number...).
        """
        from assistant.llm.json_grammar import schema_gbnf

        try:
            text = schema if isinstance(schema, str) else json.dumps(schema)
            return cls(schema_gbnf(json.loads(text)), schema=text)
        except (
            AssertionError,
            AttributeError,
            ValueError,
            TypeError,
            KeyError,
            RecursionError,
        ) as exc:
            raise ConfigurationError(f"the JSON schema cannot be used: {exc}") from None

    @classmethod
    def json_object(cls) -> Grammar:
        """Any JSON object (OpenAI's ``json_object`` response format)."""
        from assistant.llm.json_grammar import JSON_OBJECT

        return cls(JSON_OBJECT)

    def sampler(self, vocab: Any) -> Any:
        """A llama.cpp grammar sampler over ``vocab``; ConfigurationError if the text is bad."""
        import llama_cpp

        pointer = llama_cpp.llama_sampler_init_grammar(
            vocab, self.gbnf.encode("utf-8"), self.root.encode("utf-8")
        )
        if not pointer:
            raise ConfigurationError("the grammar does not parse (see llama.cpp's GBNF guide)")
        return pointer
