"""Structured output requested over HTTP: OpenAI's ``response_format`` and Ollama's ``format``.

Both become a ``Grammar`` for llama.cpp's grammar sampler, so the reply parses by
construction: ``{"type": "json_object"}`` and ``format: "json"`` give any JSON object,
``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`` and a schema given as
``format`` give JSON valid against that schema. ``strict`` changes nothing here: output is
always held to the schema. A schema that cannot be turned into a grammar is a 400 naming the
field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.errors import InputError
from assistant.llm.errors import ConfigurationError
from assistant.llm.grammar import Grammar


class JsonSchemaFormat(BaseModel):
    """``response_format.json_schema``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    """OpenAI's ``response_format``."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError("json_schema is given with, and only with, type 'json_schema'")
        return self


def grammar_for(
    response_format: ResponseFormat | None, ollama_format: str | dict[str, Any] | None
) -> Grammar | None:
    """The grammar a request asks for, if any; InputError naming the field when unusable."""
    if response_format is not None and ollama_format is not None:
        raise InputError("give response_format or format, not both")
    if ollama_format is not None:
        if ollama_format == "json":
            return Grammar.json_object()
        if isinstance(ollama_format, dict):
            return _from_schema(ollama_format, "format")
        raise InputError("format is 'json' or a JSON schema (an object)")
    if response_format is None or response_format.type == "text":
        return None
    if response_format.json_schema is None:
        return Grammar.json_object()
    return _from_schema(response_format.json_schema.schema_, "response_format.json_schema.schema")


def _from_schema(schema: dict[str, Any], where: str) -> Grammar:
    try:
        return Grammar.from_json_schema(schema)
    except ConfigurationError as exc:
        raise InputError(f"{where}: {exc}") from None


def relayed_format(
    response_format: ResponseFormat | None, ollama_format: str | dict[str, Any] | None
) -> dict[str, Any] | None:
    """The request's structured output as OpenAI's ``response_format``, for a remote server."""
    if ollama_format == "json":
        return {"type": "json_object"}
    if isinstance(ollama_format, dict):
        return {"type": "json_schema", "json_schema": {"name": "output", "schema": ollama_format}}
    if response_format is None or response_format.type == "text":
        return None
    return response_format.model_dump(exclude_none=True, by_alias=True)
