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


def test_tools_through_a_relay_are_refused_by_name_not_ignored(server: str) -> None:
    remote = {"ASSISTANT_LLM__BACKEND": "openai", "ASSISTANT_LLM__BASE_URL": f"{server}/v1"}
    tool = {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}
    body = {"messages": [{"role": "user", "content": "What time is it?"}], "tools": [tool]}
    with serving(env=remote) as relay:
        answer = httpx.post(f"{relay}/v1/chat/completions", json=body, timeout=60)
    assert answer.status_code == 400 and "tools" in answer.json()["error"]["message"]
