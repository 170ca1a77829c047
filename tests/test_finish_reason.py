"""A reply cut by the token limit says so, through every door: OpenAI, native, /ws, Realtime.

Each request is held to a schema whose story is longer than the limit allows, so it is cut
whatever the model draws. Sampled hot at these seeds, the grammar makes the model write
pieces that the tokenizer joins again: the reply's text tokenized anew is a token short, which
is how a cut reply used to read ``stop``.
"""

import json
import time
from typing import Any

import httpx
import pytest

from tests.serving import openai_client as _client
from tests.serving import serving, ws_url

LIMIT = 40
STORY = "Write a long story about a dragon, as JSON."
LONG = {
    "type": "object",
    "properties": {"story": {"type": "string", "minLength": 400}},
    "required": ["story"],
}
ENDLESS = {**LONG, "properties": {"story": {"type": "string", "minLength": 5000}}}
CHAT = {"temperature": 0.9, "seed": 2, "max_tokens": LIMIT}  # a prompt through the template
RAW = {"temperature": 0.9, "seed": 6, "max_tokens": LIMIT}  # a prompt as it is
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "story", "schema": LONG}}


def _events(response: httpx.Response) -> list[dict[str, Any]]:
    lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def test_openai_chat_whole_and_streamed(server: str) -> None:
    client = _client(server)
    asked: dict[str, Any] = {
        "model": "any",
        "messages": [{"role": "user", "content": STORY}],
        "response_format": JSON_SCHEMA,
        **CHAT,
    }
    whole = client.chat.completions.create(**asked)
    assert whole.choices[0].finish_reason == "length", whole.choices[0].message.content
    assert whole.usage is not None and whole.usage.completion_tokens == LIMIT
    chunks = list(
        client.chat.completions.create(**asked, stream=True, stream_options={"include_usage": True})
    )
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert reasons[-1] == "length" and set(reasons[:-1]) == {None}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == LIMIT


def test_openai_completions_whole_and_streamed(server: str) -> None:
    client = _client(server)
    asked: dict[str, Any] = {"model": "any", "prompt": f"{STORY}\n", **RAW}
    json_mode = {"response_format": JSON_SCHEMA}
    whole = client.completions.create(**asked, extra_body=json_mode)
    assert whole.choices[0].finish_reason == "length", whole.choices[0].text
    assert whole.usage is not None and whole.usage.completion_tokens == LIMIT
    chunks = list(client.completions.create(**asked, stream=True, extra_body=json_mode))
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert reasons[-1] == "length" and set(reasons[:-1]) == {None}


@pytest.mark.parametrize("path", ["/api/generate", "/api/chat"])
def test_native_whole_and_streamed(server: str, path: str) -> None:
    asked: dict[str, Any] = {"format": LONG}
    if path == "/api/chat":
        asked |= {"messages": [{"role": "user", "content": STORY}], **CHAT}
    else:
        asked |= {"prompt": f"{STORY}\n", **RAW}
    whole = httpx.post(f"{server}{path}", json=asked, timeout=300).json()
    assert whole["finish_reason"] == "length", whole
    assert whole["tokens_generated"] == LIMIT
    with httpx.stream(
        "POST", f"{server}{path}", json={**asked, "stream": True, "done_event": True}, timeout=300
    ) as streamed:
        events = _events(streamed)
    ends = [e for e in events if "finish_reason" in e or "done_reason" in e]
    assert ends, events
    assert all(e.get("finish_reason", e.get("done_reason")) == "length" for e in ends), ends


@pytest.mark.parametrize("kind", ["generate", "chat"])
def test_websocket(server: str, kind: str) -> None:
    from websockets.sync.client import connect

    message: dict[str, Any] = {"type": kind, "id": "r1"}
    if kind == "chat":
        message |= {"messages": [{"role": "user", "content": STORY}], "config": CHAT}
    else:
        message |= {"prompt": f"{STORY}\n", "config": RAW}
    message["config"] = {**message["config"], "format": LONG}
    with connect(ws_url(server)) as ws:
        ws.recv()  # status
        ws.send(json.dumps(message))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            reply = json.loads(ws.recv(timeout=300))
            if reply["type"] in ("complete", "error"):
                break
    assert reply["type"] == "complete", reply
    assert reply["finish_reason"] == "length" and reply["tokens_generated"] == LIMIT, reply


def test_realtime_response_is_incomplete_at_max_output_tokens(server: str) -> None:
    with _client(server).realtime.connect(model="local") as connection:
        connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": STORY}],
        }
        connection.conversation.item.create(item=item)  # type: ignore[arg-type]
        connection.response.create(response={"max_output_tokens": 8})
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            raw = connection._connection.recv(timeout=300, decode=False)
            event = connection.parse_event(raw)
            assert event.type != "error", event
            if event.type == "response.done":
                break
    response = event.response
    assert response.status == "incomplete", response
    assert response.status_details is not None
    assert response.status_details.reason == "max_output_tokens"


def test_unset_max_tokens_is_the_context_on_v1_and_100_on_the_native_api() -> None:
    endless = {"type": "json_schema", "json_schema": {"name": "story", "schema": ENDLESS}}
    ask = [{"role": "user", "content": STORY}]
    # about 200 tokens of prompt: the context has little room left, so the test is quick
    padded = [{"role": "user", "content": "word " * 200 + STORY}]
    with serving(env={"ASSISTANT_LLM__N_CTX": "256"}) as url:
        done = _client(url).chat.completions.create(
            model="any",
            messages=padded,  # type: ignore[arg-type]
            response_format=endless,  # type: ignore[arg-type]
        )
        assert done.choices[0].finish_reason == "length" and done.usage is not None
        assert done.usage.prompt_tokens + done.usage.completion_tokens == 256
        text = _client(url).completions.create(
            model="any",
            prompt="word " * 200 + STORY,
            extra_body={"response_format": endless},
        )
        assert text.choices[0].finish_reason == "length" and text.usage is not None
        assert text.usage.prompt_tokens + text.usage.completion_tokens == 256
        native = httpx.post(
            f"{url}/api/chat", json={"messages": ask, "format": ENDLESS}, timeout=300
        ).json()
        assert (native["finish_reason"], native["tokens_generated"]) == ("length", 100)
