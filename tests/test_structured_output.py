"""JSON output over HTTP: OpenAI's response_format, Ollama's format, locally and relayed."""

import json
from collections.abc import Iterator

import httpx
import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from tests.serving import openai_client as _client
from tests.serving import serving

PLACE = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 30},
        "country": {"type": "string", "maxLength": 30},
        "population_millions": {"type": "number"},
    },
    "required": ["city", "country", "population_millions"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "ask", ["Tell me about Paris.", "Name a big city in Asia.", "Where do penguins live?"]
)
def test_json_schema_answers_parse_and_validate_at_temperature_0_9(server: str, ask: str) -> None:
    done = _client(server).chat.completions.create(
        model="any",
        messages=[{"role": "user", "content": ask}],
        temperature=0.9,
        max_tokens=200,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "place", "schema": PLACE, "strict": True},
        },
    )
    choice = done.choices[0]
    assert choice.finish_reason == "stop", choice.message.content
    jsonschema.validate(json.loads(choice.message.content or ""), PLACE)


def test_json_object_streamed_and_whole(server: str) -> None:
    client = _client(server)
    asked = {
        "model": "any",
        "messages": [{"role": "user", "content": "Describe a cat as JSON."}],
        "response_format": {"type": "json_object"},
        "max_tokens": 300,
        "temperature": 0,
    }
    whole = client.chat.completions.create(**asked)  # type: ignore[call-overload]
    if whole.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(whole.choices[0].message.content), dict)
    chunks = client.chat.completions.create(**asked, stream=True)  # type: ignore[call-overload]
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == whole.choices[0].message.content


def test_the_native_format_takes_json_or_a_schema(server: str) -> None:
    chat = {"messages": [{"role": "user", "content": "Tell me about Rome."}], "max_tokens": 200}
    answer = httpx.post(f"{server}/api/chat", json={**chat, "format": PLACE}, timeout=120)
    assert answer.status_code == 200, answer.text
    jsonschema.validate(json.loads(answer.json()["text"]), PLACE)
    made = httpx.post(
        f"{server}/api/generate",
        json={"prompt": "A JSON list of fruit:", "format": "json", "max_tokens": 300},
        timeout=120,
    )
    assert made.status_code == 200, made.text
    body = made.json()
    if body["finish_reason"] == "stop":
        assert isinstance(json.loads(body["text"]), dict)


def _text(limit: int) -> dict:
    return {"type": "string", "maxLength": limit}


def _closed(properties: dict) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


# Five prompts, each with a schema of its own (integer bounds among them).
SWEEP = {
    "List three colours as JSON.": _closed(
        {"colours": {"type": "array", "items": _text(20), "minItems": 1, "maxItems": 5}}
    ),
    "Describe a cat as JSON.": _closed(
        {"name": _text(30), "age": {"type": "integer", "minimum": 0, "maximum": 30}}
    ),
    "Give a person's name and age as JSON.": _closed(
        {"name": _text(30), "age": {"type": "integer", "minimum": 0, "maximum": 120}}
    ),
    "Name a big city and its country, as JSON.": PLACE,
    "Three fruits and their colours, as JSON.": _closed(
        {
            "fruits": {
                "type": "array",
                "items": _closed({"name": _text(20), "colour": _text(20)}),
                "maxItems": 5,
            }
        }
    ),
}
CUT = 60  # max_tokens where one is given
# No max_tokens means up to the context: a window of 512 bounds what a reply that runs on
# costs the test (any JSON object may go on for ever; a schema's bounded one may not).
N_CTX = 512


@pytest.fixture(scope="module")
def small_window() -> Iterator[str]:
    with serving(env={"ASSISTANT_LLM__N_CTX": str(N_CTX)}) as url:
        yield url


def _sweep_requests() -> list[dict]:
    """Ten ways to ask: greedy and at 0.9 (four seeds), each with and without max_tokens."""
    ways = [{"temperature": 0.0}] + [{"temperature": 0.9, "seed": s} for s in (1, 2, 3, 4)]
    return [{**way, **limit} for way in ways for limit in ({}, {"max_tokens": CUT})]


@pytest.mark.parametrize("kind", ["json_object", "json_schema"])
@pytest.mark.parametrize("ask", list(SWEEP))
def test_json_replies_parse_and_validate_or_say_length(
    small_window: str, ask: str, kind: str
) -> None:
    schema = SWEEP[ask]
    response_format: dict = {"type": "json_object"}
    if kind == "json_schema":
        response_format = {"type": kind, "json_schema": {"name": "reply", "schema": schema}}
    client, failures = _client(small_window), []
    for asked in _sweep_requests():
        done = client.chat.completions.create(
            model="any",
            messages=[{"role": "user", "content": ask}],
            response_format=response_format,  # type: ignore[arg-type]
            **asked,
        )
        choice, usage = done.choices[0], done.usage
        assert usage is not None
        text = choice.message.content or ""
        if choice.finish_reason == "length":  # cut, and truly at the limit
            used = usage.completion_tokens
            if "max_tokens" not in asked:
                used += usage.prompt_tokens
            if used != asked.get("max_tokens", N_CTX):
                failures.append((asked, "length before the limit", used, text))
            continue
        try:
            reply = json.loads(text)
            assert isinstance(reply, dict)
            if kind == "json_schema":
                jsonschema.validate(reply, schema)
        except (ValueError, AssertionError, jsonschema.ValidationError) as exc:
            failures.append((asked, choice.finish_reason, type(exc).__name__, text))
    assert not failures, failures


class Person(BaseModel):
    name: str = Field(max_length=30)
    age: int = Field(ge=0, le=120)


class Reading(BaseModel):
    celsius: float = Field(ge=-50, le=60)


def test_pydantic_integer_bounds_hold_through_parse(server: str) -> None:
    client = _client(server)
    ask = [{"role": "user", "content": "Invent a person who is 150 years old."}]
    for seed in range(6):
        done = client.chat.completions.parse(
            model="any", messages=ask, response_format=Person, temperature=0.9, seed=seed + 1
        )
        person = done.choices[0].message.parsed
        assert person is not None and 0 <= person.age <= 120, done.choices[0].message.content


def test_a_bound_on_a_float_is_a_400_naming_the_keyword(server: str) -> None:
    with pytest.raises(openai.BadRequestError, match="minimum") as refused:
        _client(server).chat.completions.parse(
            model="any",
            messages=[{"role": "user", "content": "How warm is it?"}],
            response_format=Reading,
        )
    assert refused.value.status_code == 400


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {"type": "flying"}},
                }
            },
            "response_format.json_schema.schema",
        ),
        ({"format": {"$ref": "#/nowhere"}}, "format"),
        ({"format": "yaml"}, "format"),
        ({"format": "json", "response_format": {"type": "json_object"}}, "not both"),
    ],
)
def test_structured_output_that_cannot_be_had_is_a_400_naming_the_field(
    server: str, extra: dict, field: str
) -> None:
    body = {"messages": [{"role": "user", "content": "Hi"}], **extra}
    answer = httpx.post(f"{server}/v1/chat/completions", json=body, timeout=60)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["error"]["message"], answer.text


def test_a_relaying_server_passes_the_format_on(server: str) -> None:
    remote = {"ASSISTANT_LLM__BACKEND": "openai", "ASSISTANT_LLM__BASE_URL": f"{server}/v1"}
    with serving(env=remote) as relay:
        chat = {"messages": [{"role": "user", "content": "Tell me about Oslo."}], "max_tokens": 200}
        answer = httpx.post(f"{relay}/api/chat", json={**chat, "format": PLACE}, timeout=120)
        assert answer.status_code == 200, answer.text
        jsonschema.validate(json.loads(answer.json()["text"]), PLACE)


def test_tools_go_through_a_relay_and_come_back_as_calls(server: str) -> None:
    remote = {"ASSISTANT_LLM__BACKEND": "openai", "ASSISTANT_LLM__BASE_URL": f"{server}/v1"}
    weather = {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 30}},
                "required": ["city"],
            },
        },
    }
    ask = [{"role": "user", "content": "What is the weather in Oslo?"}]
    with serving(env=remote) as relay:
        client = _client(relay)
        forced = client.chat.completions.create(
            model="any", messages=ask, tools=[weather], tool_choice="required", max_tokens=60
        )
        (call,) = forced.choices[0].message.tool_calls or []
        assert forced.choices[0].finish_reason == "tool_calls"
        assert call.function.name == "weather"
        assert isinstance(json.loads(call.function.arguments)["city"], str)
        answer = client.chat.completions.create(
            model="any",
            messages=[
                *ask,
                forced.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 degrees."},
            ],
            tools=[weather],
            tool_choice="none",
            max_tokens=40,
        )
        assert answer.choices[0].message.content and not answer.choices[0].message.tool_calls
        native = httpx.post(
            f"{relay}/api/chat",
            json={"messages": ask, "tools": [weather], "tool_choice": "required", "max_tokens": 60},
            timeout=120,
        )
        assert native.status_code == 200, native.text
        (ollama_call,) = native.json()["tool_calls"]
        assert ollama_call["function"]["name"] == "weather"
        assert isinstance(ollama_call["function"]["arguments"]["city"], str)


def test_logit_bias_is_honoured_locally_and_checked(server: str) -> None:
    ask = [{"role": "user", "content": "Say the word yes."}]
    free = httpx.post(
        f"{server}/v1/chat/completions",
        json={"messages": ask, "max_tokens": 1, "temperature": 0},
        timeout=60,
    ).json()
    first = free["choices"][0]["message"]["content"]
    token = httpx.post(f"{server}/api/tokenize", json={"text": first, "add_bos": False}).json()
    banned = {str(token["tokens"][0]): -100}
    biased = httpx.post(
        f"{server}/v1/chat/completions",
        json={"messages": ask, "max_tokens": 1, "temperature": 0, "logit_bias": banned},
        timeout=60,
    ).json()
    assert biased["choices"][0]["message"]["content"] != first
    for bad in ({"abc": 1}, {"5": 500}, {"99999999": 5}):
        answer = httpx.post(
            f"{server}/v1/chat/completions",
            json={"messages": ask, "max_tokens": 1, "logit_bias": bad},
            timeout=60,
        )
        assert answer.status_code in (400, 422), answer.text
        assert "logit_bias" in answer.text, answer.text
