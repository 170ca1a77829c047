"""Constrained generation in the library: JSON schemas, JSON objects and GBNF grammars."""

import asyncio
import json
import re

import jsonschema
import llama_cpp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant import ConfigurationError, Grammar, Model, SamplerParams
from assistant.catalog import ModelStore
from assistant.llm.aio import AsyncModel
from assistant.llm.context import Context
from assistant.llm.int_range import integer_bounds, integer_range

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
    bounded = {"type": "object", "properties": {"n": {"type": "number", "maximum": 9}}}
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


@pytest.mark.parametrize(
    ("schema", "named"),
    [
        ({"type": "number", "minimum": 0}, "minimum"),
        ({"type": ["number", "null"], "exclusiveMaximum": 1.5}, "exclusiveMaximum"),
        ({"type": "integer", "multipleOf": 5}, "multipleOf"),
        ({"type": "array", "items": {"type": "string"}, "uniqueItems": True}, "uniqueItems"),
        ({"type": "object", "minProperties": 1}, "minProperties"),
        ({"type": "string", "pattern": "^a+$", "maxLength": 3}, "maxLength"),
        ({"type": "integer", "minimum": "five"}, "minimum"),
        ({"type": "integer", "minimum": 5, "maximum": 4}, "no integer"),
        ({"$defs": {"n": {"type": "number", "maximum": 3}}, "$ref": "#/$defs/n"}, "maximum"),
    ],
)
def test_a_keyword_the_grammar_cannot_hold_is_refused_by_name(schema: dict, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Grammar.from_json_schema(schema)


def test_a_property_named_like_a_keyword_is_only_a_name() -> None:
    schema = {"type": "object", "properties": {"minimum": {"type": "string", "maxLength": 5}}}
    assert "minimum" in Grammar.from_json_schema(schema).gbnf


def _as_regex(expression: str) -> re.Pattern[str]:
    """An integer range's GBNF (literals, classes, counts, groups) as the same regex."""
    literal = re.sub(r'"([^"]*)"', lambda m: re.escape(m.group(1)), expression)
    return re.compile(literal.replace(" ", ""))


def _check_range(low: int | None, high: int | None, probes: list[int]) -> None:
    pattern = _as_regex(integer_range(low, high))
    for n in probes:
        inside = (low is None or n >= low) and (high is None or n <= high)
        assert bool(pattern.fullmatch(str(n))) == inside, (low, high, n)
    for text in ("-0", "00", "01", "-01", "+1", "1.0", "007"):
        assert not pattern.fullmatch(text), (low, high, text)


@pytest.mark.parametrize(
    ("low", "high"),
    [(0, 120), (15, 300), (-123, 42), (-10, 10), (105, None), (None, 30), (-5, None),
     (None, -5), (7, 7), (0, 0), (999, 1000), (None, None), (10**20, None)],
)  # fmt: skip
def test_integer_ranges_allow_exactly_their_integers(low: int | None, high: int | None) -> None:
    edges = [e + d for e in (low, high) if e is not None for d in (-11, -10, -1, 0, 1, 10, 11)]
    _check_range(low, high, [*range(-1100, 1101), *edges, 10**15, -(10**15)])


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.none(), st.integers(-(10**7), 10**7)),
    st.one_of(st.none(), st.integers(-(10**7), 10**7)),
    st.lists(st.integers(-(10**8), 10**8), min_size=20, max_size=40),
)
def test_integer_ranges_hold_for_any_bounds(
    low: int | None, high: int | None, probes: list[int]
) -> None:
    if low is not None and high is not None and low > high:
        low, high = high, low
    edges = [e + d for e in (low, high) if e is not None for d in (-2, -1, 0, 1, 2)]
    _check_range(low, high, [*probes, *edges])


def test_integer_bounds_in_every_form_become_grammar_llama_cpp_accepts(model: Model) -> None:
    forms = [
        ({"minimum": 0, "maximum": 120}, (0, 120)),
        ({"exclusiveMinimum": -5, "exclusiveMaximum": 10}, (-4, 9)),
        ({"minimum": 2.5, "maximum": 7.5}, (3, 7)),
        ({"minimum": 3, "exclusiveMinimum": True, "maximum": 9}, (4, 9)),  # draft 4
        ({"minimum": 1, "exclusiveMinimum": 4}, (5, None)),
    ]
    for bounds, expected in forms:
        assert integer_bounds(bounds) == expected
        grammar = Grammar.from_json_schema({"type": "integer", **bounds})
        llama_cpp.llama_sampler_free(grammar.sampler(model.vocab))  # parses in llama.cpp


def test_integer_bounds_hold_while_a_model_writes(model: Model, ctx: Context) -> None:
    schema = {
        "type": "object",
        "properties": {
            "age": {"type": "integer", "minimum": 18, "maximum": 65},
            "floor": {"type": ["integer", "null"], "exclusiveMinimum": -3, "exclusiveMaximum": 12},
        },
        "required": ["age", "floor"],
        "additionalProperties": False,
    }
    grammar = Grammar.from_json_schema(schema)
    ask = chat(model, "A person of 99 years lives on floor 300. Give their age and floor.")
    for seed in range(4):
        text = ctx.generate(ask, 60, SamplerParams(temperature=1.0, seed=seed), grammar=grammar)
        assert ctx.finish_reason == "stop", text
        jsonschema.validate(json.loads(text), schema)


def _line_break_tokens(model: Model) -> list[int]:
    """Every token that is only blanks and holds a line break or a tab (never inside a string)."""
    found = []
    for token in range(model.n_vocab):
        piece = model.detokenize_bytes([token])
        if piece and not piece.strip(b" \t\n") and (b"\n" in piece or b"\t" in piece):
            found.append(token)
    return found


def test_a_model_drawn_to_whitespace_still_finishes_its_json(model: Model, ctx: Context) -> None:
    # Whitespace between JSON tokens is held to llama.cpp's bounded run (a line break and up
    # to 20 blanks): a model pushed to pad with line breaks for ever must still close the
    # object and stop. Strings take no raw line break or tab, so only the padding is pushed.
    params = SamplerParams(temperature=0.9, seed=11)
    params.logit_bias = {t: 8.0 for t in _line_break_tokens(model)}
    for grammar in (Grammar.json_object(), Grammar.from_json_schema(PERSON)):
        text = ctx.generate(chat(model, "Describe a person."), 400, params, grammar=grammar)
        assert ctx.finish_reason == "stop", repr(text)
        assert isinstance(json.loads(text), dict)
        assert not re.search(r"\n[ \t]*\n", text), repr(text)  # one break per run


NULLABLE = {
    "type": "object",
    "properties": {
        "nick": {"type": ["string", "null"], "maxLength": 3},
        "pet": {"type": ["string", "null"], "enum": ["cat", "dog", None]},
        "age": {"type": ["integer", "null"], "minimum": 1, "maximum": 9},
        "home": {
            "type": ["object", "null"],
            "properties": {"town": {"type": "string", "maxLength": 8}},
            "required": ["town"],
            "additionalProperties": False,
        },
    },
    "required": ["nick", "pet", "age", "home"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_list_of_types_keeps_the_other_keywords(model: Model, ctx: Context, seed: int) -> None:
    """OpenAI's strict form ``"type": ["string", "null"]`` with lengths, enums and bounds."""
    grammar = Grammar.from_json_schema(NULLABLE)
    ask = chat(model, "Describe a person with a long nickname, a pet, an age and a home.")
    text = ctx.generate(ask, 200, SamplerParams(temperature=0.9, seed=seed), grammar=grammar)
    assert ctx.finish_reason == "stop", text
    jsonschema.validate(json.loads(text), NULLABLE)


TAGGED = {
    "type": "object",
    "properties": {
        "pet": {
            "oneOf": [
                {
                    "properties": {"kind": {"const": "cat"}, "lives": {"type": "integer"}},
                    "required": ["kind", "lives"],
                    "type": "object",
                },
                {
                    "properties": {"kind": {"const": "dog"}, "tricks": {"type": "integer"}},
                    "required": ["kind", "tricks"],
                    "type": "object",
                },
            ]
        }
    },
    "required": ["pet"],
}


def test_one_of_is_taken_when_its_branches_exclude_each_other_and_refused_otherwise() -> None:
    Grammar.from_json_schema(TAGGED)  # a tagged union, as Pydantic writes one
    overlapping = {"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 2}]}
    with pytest.raises(ConfigurationError, match="oneOf"):
        Grammar.from_json_schema(overlapping)
    with pytest.raises(ConfigurationError, match="maxLength beside format"):
        Grammar.from_json_schema({"type": "string", "format": "date", "maxLength": 4})
