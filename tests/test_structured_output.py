"""JSON output over HTTP: OpenAI's response_format, Ollama's format, locally and relayed."""

import json
from collections.abc import Iterator

import httpx
import jsonschema
import openai
import pytest

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


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving() as url:
        yield url


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused")


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
