"""Constrained generation in the library: JSON schemas, JSON objects and GBNF grammars."""

import asyncio
import json

import jsonschema
import pytest

from assistant import ConfigurationError, Grammar, Model, SamplerParams
from assistant.catalog import ModelStore
from assistant.llm.aio import AsyncModel
from assistant.llm.context import Context

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer"},
        "pets": {"type": "array", "items": {"enum": ["cat", "dog", "fish"]}, "maxItems": 3},
    },
    "required": ["name", "age", "pets"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def model() -> Model:
    return Model.load(ModelStore().resolve("llm").path)


@pytest.fixture(scope="module")
def ctx(model: Model) -> Context:
    return Context(model, n_ctx=1024, n_batch=256)


def chat(model: Model, text: str) -> str:
    return model.apply_chat_template([("user", text)])


@pytest.mark.parametrize(
    "ask", ["Describe a person.", "Who lives next door?", "Tell me about your best friend."]
)
def test_schema_output_parses_and_validates_even_when_sampled_hot(
    model: Model, ctx: Context, ask: str
) -> None:
    grammar = Grammar.from_json_schema(PERSON)
    params = SamplerParams(temperature=0.9, seed=7)
    text = ctx.generate(chat(model, ask), 200, params, grammar=grammar)
    assert ctx.finish_reason == "stop", text
    jsonschema.validate(json.loads(text), PERSON)


def test_json_object_and_gbnf(model: Model, ctx: Context) -> None:
    text = ctx.generate(
        chat(model, "Say hello."), 300, SamplerParams(temperature=0.9, seed=3),
        grammar=Grammar.json_object(),
    )  # fmt: skip
    if ctx.finish_reason == "stop":
        assert isinstance(json.loads(text), dict), text
    else:  # cut at the token limit: still the start of an object
        assert text.lstrip().startswith("{"), text
    yes_no = Grammar.from_gbnf('root ::= "yes" | "no"')
    for seed in range(3):
        params = SamplerParams(temperature=1.0, seed=seed)
        assert ctx.generate(chat(model, "Is it raining?"), 10, params, grammar=yes_no) in (
            "yes",
            "no",
        )


def test_grammars_that_cannot_be_used_are_clear_errors(model: Model, ctx: Context) -> None:
    bounded = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 9}}}
    for schema in ({"type": "flying"}, {"$ref": "#/nowhere"}, "{not json", bounded):
        with pytest.raises(ConfigurationError, match="JSON schema"):
            Grammar.from_json_schema(schema)
    with pytest.raises(ConfigurationError, match="rule"):
        Grammar.from_gbnf("just words")
    stream = ctx.generate_stream(chat(model, "Hi"), 5, grammar=Grammar.from_gbnf("root ::= nope"))
    with pytest.raises(ConfigurationError, match="does not parse"):
        next(stream)
    assert ctx.generate(chat(model, "Hi"), 3) is not None  # the context is still usable


def test_the_async_api_takes_a_grammar() -> None:
    async def go() -> str:
        model = await AsyncModel.load(ModelStore().resolve("llm").path, pool_size=1, n_ctx=512)
        try:
            prompt = model.model.apply_chat_template([("user", "Describe a person.")])
            return await model.generate(
                prompt,
                200,
                SamplerParams(temperature=0.8),
                grammar=Grammar.from_json_schema(PERSON),
            )
        finally:
            await model.close()

    jsonschema.validate(json.loads(asyncio.run(go())), PERSON)
