"""Constrained generation: output that follows a grammar, so JSON parses by construction.

llama.cpp's grammar sampler masks every token that would leave the grammar (and the end of
generation until the grammar is complete), whatever the model. A ``Grammar`` comes from a JSON
schema (through llama-cpp-python's schema-to-GBNF converter), from GBNF text, or is "any JSON
object". Output can still stop short at the token limit; ``finish_reason`` then says
``length``.
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
        a ``$ref`` that does not resolve, an unsupported ``pattern``...).
        """
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        try:
            text = schema if isinstance(schema, str) else json.dumps(schema)
            _refuse_unenforced(json.loads(text))
            return cls(_strict_strings(json_schema_to_gbnf(text)), schema=text)
        except (AssertionError, ValueError, TypeError, KeyError, RecursionError) as exc:
            raise ConfigurationError(f"the JSON schema cannot be used: {exc}") from None

    @classmethod
    def json_object(cls) -> Grammar:
        """Any JSON object (OpenAI's ``json_object`` response format)."""
        from llama_cpp.llama_grammar import JSON_GBNF

        return cls(JSON_GBNF)

    def sampler(self, vocab: Any) -> Any:
        """A llama.cpp grammar sampler over ``vocab``; ConfigurationError if the text is bad."""
        import llama_cpp

        pointer = llama_cpp.llama_sampler_init_grammar(
            vocab, self.gbnf.encode("utf-8"), self.root.encode("utf-8")
        )
        if not pointer:
            raise ConfigurationError("the grammar does not parse (see llama.cpp's GBNF guide)")
        return pointer


_LOOSE_CHAR = 'char ::= [^"\\\\]'  # the converter's string character: any but " and \\


def _strict_strings(gbnf: str) -> str:
    """``gbnf`` with no raw control characters inside strings.

    The converter lets them in, which JSON forbids: a model writes a newline there and the
    output no longer parses. llama.cpp's own JSON grammar keeps them out the same way.
    """
    return gbnf.replace(_LOOSE_CHAR, 'char ::= [^"\\\\\\x7F\\x00-\\x1F]')


# Keywords the converter accepts but does not turn into grammar: output would break them.
_UNENFORCED = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


def _refuse_unenforced(schema: Any) -> None:
    """ValueError naming a keyword the grammar would silently not enforce."""
    if isinstance(schema, dict):
        found = [k for k in _UNENFORCED if k in schema and not isinstance(schema[k], dict)]
        if found:
            raise ValueError(
                f"{', '.join(found)} cannot be enforced by the grammar; "
                "drop it and check the value after generation"
            )
        for value in schema.values():
            _refuse_unenforced(value)
    elif isinstance(schema, list):
        for value in schema:
            _refuse_unenforced(value)
