"""Function calling in Realtime sessions: raw GA events, and an `openai-agents` realtime agent."""

import asyncio
import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import numpy as np
import pytest

from assistant.models.piper import PiperTTS
from tests import media
from tests.realtime_wire import RT_RATE, Microphone, Wire, replay

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}
LIGHT = {
    "type": "function",
    "name": "set_light",
    "description": "Turn a room's light on or off.",
    "parameters": {
        "type": "object",
        "properties": {"room": {"type": "string"}, "on": {"type": "boolean"}},
        "required": ["room", "on"],
    },
}
CALL_EVENTS = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
]


def _ask(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def _respond(wire: Wire, **options: Any) -> list[dict[str, Any]]:
    await wire.send("response.create", **({"response": options} if options else {}))
    return await wire.until("response.done")


def test_a_forced_call_goes_out_its_output_comes_back_and_the_answer_follows(
    greedy_server: str,
) -> None:
    async def talk() -> None:
        async with Wire.open(greedy_server) as wire:
            session = await wire.update(
                output_modalities=["text"], tools=[WEATHER], tool_choice="required"
            )
            assert session["tools"] == [WEATHER] and session["tool_choice"] == "required"
            await wire.send("conversation.item.create", item=_ask("What is the weather in Paris?"))
            await wire.until("conversation.item.done")
            called = await _respond(wire)
            assert [e["type"] for e in called] == CALL_EVENTS
            call = called[-1]["response"]["output"][0]
            assert called[-1]["response"]["status"] == "completed"
            assert call["type"] == "function_call" and call["name"] == "get_weather"
            deltas = "".join(e["delta"] for e in called if e["type"].endswith("arguments.delta"))
            done = next(e for e in called if e["type"].endswith("arguments.done"))
            assert deltas == done["arguments"] == call["arguments"]
            assert done["call_id"] == call["call_id"] and done["item_id"] == call["id"]
            arguments = json.loads(call["arguments"])
            jsonschema.validate(arguments, WEATHER["parameters"])  # held by the grammar
            output = {"type": "function_call_output", "call_id": call["call_id"],
                      "output": "Sunny, 21 degrees."}  # fmt: skip
            await wire.send("conversation.item.create", item=output)
            added = (await wire.until("conversation.item.done"))[0]
            assert added["type"] == "conversation.item.added"
            assert added["previous_item_id"] == call["id"]
            answered = await _respond(wire)  # the forced choice does not force it again
            reply = answered[-1]["response"]
            assert reply["status"] == "completed" and reply["output"][0]["type"] == "message"
            assert reply["output"][0]["content"][0]["text"].strip()
            for item in replay(wire.events):  # the client's view is the server's
                await wire.send("conversation.item.retrieve", item_id=item["id"])
                assert (await wire.until("conversation.item.retrieved"))[-1]["item"] == item
            kinds = [item["type"] for item in replay(wire.events)]
            assert kinds == ["message", "function_call", "function_call_output", "message"]

    asyncio.run(talk())


def test_tool_choice_per_response_names_the_tool_or_none(greedy_server: str) -> None:
    async def talk() -> None:
        async with Wire.open(greedy_server) as wire:
            await wire.update(output_modalities=["text"], tools=[WEATHER, LIGHT])
            await wire.send("conversation.item.create", item=_ask("The kitchen, please."))
            named = {"type": "function", "name": "set_light"}
            call = (await _respond(wire, tool_choice=named))[-1]["response"]["output"][0]
            assert call["name"] == "set_light"
            jsonschema.validate(json.loads(call["arguments"]), LIGHT["parameters"])
            words = (await _respond(wire, tool_choice="none"))[-1]["response"]["output"]
            assert [item["type"] for item in words] == ["message"]

    asyncio.run(talk())


NAMED_GET_TIME = {"tools": [WEATHER], "tool_choice": {"type": "function", "name": "get_time"}}
BAD_SCHEMA = {**WEATHER, "parameters": {"type": "object", "properties": {"x": {"type": "nope"}}}}
UNKNOWN_OUTPUT = {"type": "function_call_output", "call_id": "call_nope", "output": "x"}


@pytest.mark.parametrize(
    ("event", "said"),
    [
        ({"type": "session.update", "session": NAMED_GET_TIME}, "get_time"),
        ({"type": "session.update", "session": {"tool_choice": "required"}}, "required"),
        ({"type": "session.update", "session": {"tools": [{"type": "mcp"}]}}, "MCP"),
        ({"type": "session.update", "session": {"tools": [BAD_SCHEMA]}}, "parameters"),
        ({"type": "conversation.item.create", "item": UNKNOWN_OUTPUT}, "call_nope"),
        ({"type": "response.create", "response": {"tools": [WEATHER]}}, "tools"),
    ],
)
def test_a_tool_event_that_cannot_be_served_gets_an_error(
    greedy_server: str, event: dict[str, Any], said: str
) -> None:
    async def talk() -> None:
        async with Wire.open(greedy_server) as wire:
            await wire.send(event.pop("type"), **event)
            error = (await wire.until("error", errors=True))[-1]["error"]
            assert said in error["message"], error
            assert (await wire.update())["tools"] == []  # nothing of it applied; it lives on

    asyncio.run(talk())


def test_without_session_tools_a_spoken_turn_has_the_voice_tools(
    greedy_server: str, tts: PiperTTS
) -> None:
    async def talk() -> list[dict[str, Any]]:
        async with Wire.open(greedy_server) as wire, Microphone(wire) as mic:
            await wire.update(output_modalities=["text"])
            question = media.speech(tts, "What is 12 times 7?", RT_RATE)
            mic.say(np.concatenate([question, media.silence(1.5, RT_RATE)]))
            return (await wire.until("response.done"))[-1]["response"]["output"]

    output = asyncio.run(talk())
    assert output[0]["content"][0]["text"].endswith("= 84"), output  # the calculator's answer


def test_an_openai_agents_realtime_agent_calls_its_tool_and_speaks_the_answer(
    greedy_server: str,
) -> None:
    from agents import function_tool, set_tracing_disabled
    from agents.realtime import RealtimeAgent, RealtimeRunner

    set_tracing_disabled(True)
    cities: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        cities.append(city)
        return f"It is sunny and 21 degrees in {city}."

    agent = RealtimeAgent(name="Weather", instructions="Answer briefly.", tools=[get_weather])
    # the tiny model would not choose by itself; a short answer keeps the test short
    settings: Any = {"tool_choice": "required", "max_output_tokens": 40}
    runner = RealtimeRunner(agent, config={"tracing_disabled": True, "model_settings": settings})

    async def run() -> list[Any]:
        url = greedy_server.replace("http://", "ws://") + "/v1/realtime?model=local"
        session = await runner.run(model_config={"url": url, "api_key": "unused"})
        got: list[Any] = []
        async with session:
            await session.send_message("What is the weather in Paris?")
            async with asyncio.timeout(120):
                async for event in session:
                    got.append(event)
                    assert event.type != "error", event
                    spoken = {"tool_end", "audio"} <= {e.type for e in got}
                    if event.type == "agent_end" and spoken:
                        return got
        raise AssertionError([e.type for e in got])

    got = asyncio.run(run())
    kinds = [e.type for e in got]
    assert kinds.count("tool_start") == kinds.count("tool_end") == 1, kinds
    assert cities and cities[0].strip(), cities  # called with valid arguments
    end = next(e for e in got if e.type == "tool_end")
    assert end.output == f"It is sunny and 21 degrees in {cities[0]}."
    after = kinds[kinds.index("tool_end") :]
    assert "audio" in after and kinds[-1] == "agent_end"  # the answer was spoken, to its end
    history = next(e for e in reversed(got) if e.type == "history_updated").history
    call, answer = history[-2], history[-1]  # as the agent holds the conversation
    assert call.type == "function_call" and call.output == end.output
    assert answer.role == "assistant" and answer.content[0].transcript.strip()
