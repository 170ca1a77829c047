"""Tool calls over /v1/chat/completions with the openai SDK: forced, named, streamed, answered."""

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from tests.serving import serving

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 30}, "unit": {"enum": ["C", "F"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_time", "description": "The time now.",
                                      "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city.",
                                      "parameters": WEATHER}},
]  # fmt: skip
ASK = [{"role": "user", "content": "What is the weather like in Paris?"}]


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with serving() as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused")


def _check(name: str, arguments: str) -> None:
    schema = next(t["function"]["parameters"] for t in TOOLS if t["function"]["name"] == name)
    jsonschema.validate(json.loads(arguments), schema)


def test_a_required_call_names_a_tool_with_valid_arguments(client: openai.OpenAI) -> None:
    for temperature in (0.0, 0.9):
        done = client.chat.completions.create(
            model="any", messages=ASK, tools=TOOLS, tool_choice="required",
            temperature=temperature, max_tokens=120,
        )  # fmt: skip
        choice = done.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        call = choice.message.tool_calls[0]  # type: ignore[index]
        assert call.id.startswith("call_") and call.type == "function"
        _check(call.function.name, call.function.arguments)  # type: ignore[union-attr]


def test_a_named_choice_is_that_tool_even_streamed(client: openai.OpenAI) -> None:
    named: Any = {"type": "function", "function": {"name": "get_weather"}}
    done = client.chat.completions.create(
        model="any", messages=ASK, tools=TOOLS, tool_choice=named, max_tokens=120
    )
    call = done.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    _check("get_weather", call.function.arguments)  # type: ignore[union-attr]
    chunks = list(
        client.chat.completions.create(
            model="any",
            messages=ASK,
            tools=TOOLS,
            tool_choice=named,
            max_tokens=120,
            stream=True,
        )
    )
    pieces = [t for c in chunks if c.choices for t in (c.choices[0].delta.tool_calls or [])]
    assert pieces[0].id and pieces[0].function.name == "get_weather"  # type: ignore[union-attr]
    arguments = "".join(p.function.arguments or "" for p in pieces if p.function)
    _check("get_weather", arguments)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_a_tool_result_goes_back_and_the_model_answers(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(
        model="any", messages=ASK, tools=TOOLS, tool_choice="required", max_tokens=120
    )
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    messages: list[Any] = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C."},
    ]
    answer = client.chat.completions.create(
        model="any", messages=messages, tools=TOOLS, tool_choice="none", max_tokens=40
    )
    assert answer.choices[0].message.content and not answer.choices[0].message.tool_calls
    auto = client.chat.completions.create(
        model="any", messages=messages, tools=TOOLS, max_tokens=60, temperature=0.9
    )
    reply = auto.choices[0]
    if reply.message.tool_calls:  # a call, when made, is held to the schema
        _check(
            reply.message.tool_calls[0].function.name,
            reply.message.tool_calls[0].function.arguments,
        )  # type: ignore[union-attr]
    else:
        assert reply.message.content and not reply.message.content.startswith("{")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tool_choice": {"type": "function", "function": {"name": "fly"}}}, "tool_choice"),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "x", "parameters": {"type": "flying"}},
                    }
                ]
            },
            "tools[0].function.parameters",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "no spaces"}}]},
            "tools[0].function.name",
        ),
        ({"messages": [*ASK, {"role": "tool", "content": "hi"}]}, "messages[1].tool_call_id"),
        (
            {
                "messages": [
                    *ASK,
                    {
                        "role": "assistant",
                        "tool_calls": [{"function": {"name": "get_time", "arguments": "{nope"}}],
                    },
                ]
            },
            "messages[1].tool_calls",
        ),
        ({"response_format": {"type": "json_object"}}, "not both"),
    ],
)
def test_bad_tool_requests_are_400s_naming_the_field(
    client: openai.OpenAI, change: dict[str, Any], field: str
) -> None:
    body = {"messages": ASK, "tools": TOOLS, **change}
    answer = httpx.post(f"{client.base_url}chat/completions", json=body, timeout=60)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["error"]["message"], answer.text


def test_native_chat_takes_tools_and_answers_ollama_style(client: openai.OpenAI) -> None:
    url = str(client.base_url).removesuffix("/v1/")
    body = {"messages": ASK, "tools": TOOLS, "tool_choice": "required", "max_tokens": 120}
    answer = httpx.post(f"{url}/api/chat", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    call = answer.json()["tool_calls"][0]["function"]
    _check(call["name"], json.dumps(call["arguments"]))
    streamed = {**body, "stream": True}
    with httpx.stream("POST", f"{url}/api/chat", json=streamed, timeout=60) as events:
        lines = [line[6:] for line in events.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    tokens = [json.loads(line) for line in lines[:-1]]
    assert [t["id"] for t in tokens] == list(range(len(tokens)))  # token events only
    last = tokens[-1]  # the call, on one more token event
    assert last["token"] == "" and "done" not in last
    _check(
        last["tool_calls"][0]["function"]["name"],
        json.dumps(last["tool_calls"][0]["function"]["arguments"]),
    )
