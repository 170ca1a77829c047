"""``llm.backend = "openai"``: one instance generating through a second one's OpenAI API.

Everything is real: two servers on loopback, the second relaying to the first. The first's
metrics show that each answer really came from it.
"""

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from tests.conftest import run_cli
from tests.serving import free_port, serving, start, voice_messages, ws_url


def remote(upstream: str) -> dict[str, str]:
    """Settings that send generation to ``upstream``."""
    return {"ASSISTANT_LLM__BACKEND": "openai", "ASSISTANT_LLM__BASE_URL": f"{upstream}/v1"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving() as url:
        yield url


@pytest.fixture(scope="module")
def relay(upstream: str) -> Iterator[str]:
    proc, url = start(env=remote(upstream))
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]


def served(upstream: str, endpoint: str) -> float:
    """How many requests ``upstream`` answered with 200 at ``endpoint``."""
    return _counter(upstream, f'assistant_requests_total{{endpoint="{endpoint}",status="200"}}')


def _counter(url: str, name: str) -> float:
    """The value of one Prometheus counter of the server at ``url`` (0 before its first use)."""
    metrics = httpx.get(f"{url}/metrics").text
    line = next((x for x in metrics.splitlines() if x.startswith(name)), f"{name} 0")
    return float(line.rsplit(" ", 1)[1])


def test_relay_answers_exactly_as_the_server_behind_it(upstream: str, relay: str) -> None:
    health = httpx.get(f"{relay}/health").json()
    behind = httpx.get(f"{upstream}/health").json()
    assert health["backend"] == "openai" and health["ready"] and health["model"] == behind["model"]
    (model,) = httpx.get(f"{relay}/api/models").json()
    assert model["loaded"] and model["name"] == behind["model"]
    assert model["backend"] == "openai" and model["base_url"] == f"{upstream}/v1"
    greedy = {"max_tokens": 24, "temperature": 0}
    chat = {"messages": [{"role": "user", "content": "Name three colours."}], **greedy}
    direct = httpx.post(f"{upstream}/api/chat", json=chat, timeout=60).json()
    before = served(upstream, "/v1/chat/completions")
    relayed = httpx.post(f"{relay}/api/chat", json=chat, timeout=60).json()
    assert served(upstream, "/v1/chat/completions") == before + 1
    assert relayed["text"] == direct["text"] and relayed["model"] == direct["model"]
    assert relayed["tokens_generated"] == direct["tokens_generated"]  # the remote's own count
    assert relayed["finish_reason"] == direct["finish_reason"]
    prompt = {"prompt": "1, 2, 3, 4,", **greedy, "max_tokens": 8}
    direct = httpx.post(f"{upstream}/api/generate", json=prompt, timeout=60).json()
    relayed = httpx.post(f"{relay}/api/generate", json=prompt, timeout=60).json()
    assert relayed["text"] == direct["text"] and relayed["finish_reason"] == "length"
    texts = {"input": ["a cat", "a dog"]}
    direct_vectors = httpx.post(f"{upstream}/api/embeddings", json=texts, timeout=60).json()
    relayed_vectors = httpx.post(f"{relay}/api/embeddings", json=texts, timeout=60).json()
    assert np.allclose(relayed_vectors["embeddings"], direct_vectors["embeddings"], atol=1e-6)


def test_openai_client_through_the_relay_streams_with_usage(upstream: str, relay: str) -> None:
    client = openai.OpenAI(base_url=f"{relay}/v1", api_key="unused")
    model = client.models.list().data[0].id
    question = [{"role": "user", "content": "Say hi."}]
    whole = client.chat.completions.create(
        model=model, messages=question, max_tokens=10, temperature=0
    )
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=question,
            max_tokens=10,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content and whole.usage
    usage = chunks[-1].usage
    assert usage and usage.completion_tokens == whole.usage.completion_tokens
    assert usage.prompt_tokens == whole.usage.prompt_tokens > 5
    completion = client.completions.create(
        model=model, prompt="One, two,", max_tokens=5, temperature=0
    )
    assert completion.choices[0].text and completion.usage
    assert completion.usage.completion_tokens == 5
    vectors = client.embeddings.create(model=model, input=["hello", "world"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 576


def test_what_needs_the_remote_tokenizer_or_model_choice_is_a_501(relay: str) -> None:
    with httpx.Client(base_url=relay, timeout=30) as client:
        for path, body in (
            ("/api/tokenize", {"text": "hi"}),
            ("/api/detokenize", {"tokens": [1, 2]}),
            ("/api/models/load", {"model": "smollm2-135m-instruct"}),
            ("/api/models/unload", None),
        ):
            answer = client.post(path, json=body)
            assert answer.status_code == 501, (path, answer.text)
            assert answer.json()["error"]["code"] == "NOT_IMPLEMENTED"
            assert "llm.backend" in answer.json()["error"]["message"]
        long = {"prompt": "word " * 5000, "max_tokens": 5}
        overflow = client.post("/api/generate", json=long)
        assert overflow.status_code == 400  # the remote's refusal, passed on with its code
        assert overflow.json()["error"]["code"] == "INVALID_REQUEST"  # the reference's table
        assert overflow.json()["error"]["type"] == "context_length_exceeded"


def test_websocket_protocol_through_the_relay(relay: str) -> None:
    from websockets.sync.client import connect

    with connect(ws_url(relay)) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "status"
        ws.send(json.dumps({"type": "generate", "id": "g", "prompt": "1, 2, 3,", "config": {}}))
        ws.send(
            json.dumps({"type": "chat", "id": "c", "messages": [{"role": "user", "content": "Hi"}]})
        )
        done: dict[str, dict] = {}
        while len(done) < 2:
            message = json.loads(ws.recv(timeout=60))
            assert message["type"] in ("token", "complete"), message
            if message["type"] == "complete":
                done[message["request_id"]] = message
    assert done["g"]["text"] and done["c"]["text"] and done["c"]["tokens_generated"] > 0


def test_voice_over_websocket_through_the_relay(
    upstream: str, relay: str, question_wav: Path
) -> None:
    from websockets.sync.client import connect

    from assistant.convert.audio_decode import decode_audio

    pcm = decode_audio(question_wav, 16000)
    before = served(upstream, "/v1/chat/completions")
    with connect(ws_url(relay) + "/voice", max_size=None) as ws:
        assert json.loads(ws.recv(timeout=60))["type"] == "ready"
        time.sleep(0.6)  # the noise floor is measured on the first half second
        for start_at in range(0, len(pcm), 640):
            ws.send(pcm[start_at : start_at + 640].astype("<i2").tobytes())
            time.sleep(0.02)
        ws.send(json.dumps({"type": "end"}))
        messages, audio = voice_messages(ws, "turn")
    final = next(m for m in messages if m["type"] == "transcript" and m["final"])
    assert "capital" in final["text"].lower()
    reply = next(m for m in messages if m["type"] == "reply")
    assert reply["text"].strip()
    samples = np.frombuffer(audio, "<i2")
    assert len(samples) > 24000 * 0.5 and np.abs(samples).max() > 1000
    assert served(upstream, "/v1/chat/completions") == before + 1  # the reply came from upstream


def test_a_client_hanging_up_on_the_relay_frees_the_remote_slot(upstream: str, relay: str) -> None:
    body = {"prompt": "1, 2, 3, 4, 5,", "max_tokens": 2000, "temperature": 0, "stream": True}
    tokens = "assistant_generated_tokens_total"
    before = _counter(upstream, tokens)
    with httpx.stream("POST", f"{relay}/api/generate", json=body, timeout=60) as response:
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))
        busy = httpx.get(f"{upstream}/health").json()["contexts_free"]
    assert busy == 1  # the relayed generation held one of the upstream's two slots
    deadline = time.monotonic() + 60  # only against a hang: the test is the count below
    while httpx.get(f"{upstream}/health").json()["contexts_free"] != 2:
        assert time.monotonic() < deadline, "the remote generation never gave its slot back"
        time.sleep(0.05)
    made = _counter(upstream, tokens) - before
    assert made < 2000 // 2, f"the remote generation went on after the hang-up: {made} tokens"
    assert httpx.get(f"{relay}/health").json()["contexts_free"] == 2


def test_remote_backend_drives_the_cli_voice_pipeline(upstream: str, question_wav: Path) -> None:
    before = served(upstream, "/v1/chat/completions")
    out = run_cli(
        "chat", "--input", str(question_wav), "--json", "--no-realtime", env=remote(upstream)
    )
    assert out.returncode == 0, out.stderr
    turn = json.loads(out.stdout.splitlines()[0])
    assert "capital" in turn["transcript"].lower() and turn["reply"].strip()
    assert served(upstream, "/v1/chat/completions") == before + 1


def test_an_unreachable_or_vanished_remote_is_one_line_or_a_502() -> None:
    gone = {**remote("http://127.0.0.1:9"), "ASSISTANT_SERVER__PORT": str(free_port())}
    for command in (("ask", "Hello"), ("serve",)):
        out = run_cli(*command, env=gone)
        assert out.returncode == 2 and out.stderr.count("\n") == 1, (command, out.stderr)
        assert "llm.base_url" in out.stderr and "Traceback" not in out.stderr
    no_url = run_cli("serve", env={"ASSISTANT_LLM__BACKEND": "openai"})
    assert no_url.returncode == 2 and "llm.base_url" in no_url.stderr
    behind, upstream = start()
    relay_proc, relay = start(env=remote(upstream))
    try:
        behind.terminate()
        behind.wait(10)
        assert httpx.get(f"{relay}/health").json()["ready"] is False
        chat = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        for stream in (False, True):
            answer = httpx.post(f"{relay}/api/chat", json={**chat, "stream": stream}, timeout=30)
            assert answer.status_code == 502, answer.text
            assert "llm.base_url" in answer.json()["error"]["message"]
    finally:
        relay_proc.terminate()
        relay_proc.wait(10)
    assert "Traceback" not in relay_proc.stderr.read()  # type: ignore[union-attr]


class Misbehaving:
    """A real OpenAI-style server on loopback that answers chat in one of several bad ways."""

    def __init__(self) -> None:
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse, StreamingResponse

        self.mode = "plain"
        self.asked = 0  # chat requests received
        app = FastAPI()

        @app.get("/v1/models")
        async def models() -> dict:
            return {"object": "list", "data": [{"id": "odd", "object": "model"}]}

        @app.post("/v1/chat/completions")
        async def chat() -> object:
            self.asked += 1
            if self.mode == "hang":
                await asyncio.sleep(3600)
            if self.mode == "flaky" and self.asked % 2:  # every other request fails
                return JSONResponse({"error": {"message": "restarting"}}, 503)
            if self.mode == "busy":
                return JSONResponse({"error": {"message": "too many"}}, 429)
            if self.mode == "plain":  # ignores "stream": true
                return {"choices": [{"message": {"content": "hi"}}]}

            async def events() -> Iterator[str]:  # type: ignore[misc]
                yield 'data: {"choices": [{"delta": {"content": "Hel"}}]}\n\n'
                if self.mode in ("fine", "flaky"):  # the one good way
                    end = '{"delta": {"content": "lo."}, "finish_reason": "stop"}'
                    yield f'data: {{"choices": [{end}]}}\n\ndata: [DONE]\n\n'
                    return
                if self.mode == "cut":  # ended, [DONE] and all, without saying why
                    yield "data: [DONE]\n\n"
                    return
                yield 'data: {"choices": {"0": "not a list"}}\n\n'

            return StreamingResponse(events(), media_type="text/event-stream")

        self.app = app


@pytest.fixture
def misbehaving() -> Iterator[tuple[Misbehaving, str]]:
    import threading

    import uvicorn

    odd = Misbehaving()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(odd.app, port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield odd, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_misbehaving_remote_gets_clear_errors_never_a_500(
    misbehaving: tuple[Misbehaving, str],
) -> None:
    from websockets.sync.client import connect

    odd, upstream = misbehaving
    proc, relay = start(env=remote(upstream))
    chat = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    try:
        odd.mode = "plain"
        answer = httpx.post(f"{relay}/api/chat", json=chat, timeout=30)
        assert answer.status_code == 502 and "without streaming" in answer.text
        odd.mode = "busy"
        answer = httpx.post(f"{relay}/v1/chat/completions", json=chat, timeout=30)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
        with connect(ws_url(relay)) as ws:
            ws.recv(timeout=10)
            ws.send(json.dumps({"type": "chat", "id": "x", **chat}))
            assert json.loads(ws.recv(timeout=30))["code"] == "RATE_LIMITED"
        odd.mode = "broken"  # one good piece, then an event of the wrong shape
        with httpx.stream("POST", f"{relay}/api/chat", json={**chat, "stream": True}) as r:
            assert r.status_code == 200
            events = [line for line in r.iter_lines() if line.startswith("data:")]
        assert json.loads(events[0][5:]) == {"token": "Hel", "id": 0}
        assert "not a completion event" in json.loads(events[1][5:])["error"]["message"]
        assert events[-1] == "data: [DONE]"
    finally:
        proc.terminate()
        proc.wait(10)
    assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]


def test_a_voice_session_outlives_a_failed_reply(misbehaving: tuple[Misbehaving, str]) -> None:
    from websockets.sync.client import connect

    odd, upstream = misbehaving
    proc, relay = start(env=remote(upstream))
    try:
        with connect(ws_url(relay) + "/voice", max_size=None) as ws:
            assert json.loads(ws.recv(timeout=60))["type"] == "ready"
            odd.mode = "busy"
            ws.send(json.dumps({"type": "text", "text": "Hi there."}))
            messages, _ = voice_messages(ws, "error")
            assert "429" in messages[-1]["error"]
            messages, _ = voice_messages(ws, "reply")  # the failed turn ends
            assert messages[-1]["finish_reason"] == "error"
            odd.mode = "fine"  # the remote is back: the same connection answers again
            ws.send(json.dumps({"type": "text", "text": "Hi again."}))
            messages, _ = voice_messages(ws, "reply")
            assert messages[-1]["text"] == "Hello." and messages[-1]["finish_reason"] == "stop"
    finally:
        proc.terminate()
        proc.wait(10)
    assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]


def test_a_remote_that_fails_once_is_asked_again_and_one_that_hangs_times_out(
    misbehaving: tuple[Misbehaving, str],
) -> None:
    from websockets.sync.client import connect

    odd, upstream = misbehaving
    env = {**remote(upstream), "ASSISTANT_LLM__TIMEOUT_S": "2", "ASSISTANT_LLM__RETRIES": "1"}
    proc, relay = start(env=env)
    try:
        with connect(ws_url(relay) + "/voice", max_size=None) as ws:
            assert json.loads(ws.recv(timeout=60))["type"] == "ready"
            odd.mode, odd.asked = "flaky", 0  # 503 first: asked again, and answered
            ws.send(json.dumps({"type": "text", "text": "Hi there."}))
            messages, _ = voice_messages(ws, "reply")
            assert messages[-1]["text"] == "Hello." and odd.asked == 2
            odd.mode = "cut"  # cut short, as llama-cpp-python's server cuts one for another
            ws.send(json.dumps({"type": "text", "text": "Hi there."}))
            messages, _ = voice_messages(ws, "error")
            assert "without saying why (no finish_reason)" in messages[-1]["error"]
            messages, _ = voice_messages(ws, "reply")
            assert messages[-1]["finish_reason"] == "error"
            odd.mode, odd.asked = "hang", 0  # silent: the turn fails after llm.timeout_s
            started = time.monotonic()
            ws.send(json.dumps({"type": "text", "text": "Hi again."}))
            messages, _ = voice_messages(ws, "error")
            waited = time.monotonic() - started
            assert "no answer from the model server" in messages[-1]["error"]
            assert 2 <= waited < 15 and odd.asked == 1  # a timeout is not retried
            messages, _ = voice_messages(ws, "reply")
            assert messages[-1]["finish_reason"] == "error"
    finally:
        proc.terminate()
        proc.wait(10)
    assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]


def test_with_fallback_the_local_model_answers_when_the_remote_fails_to_start(
    misbehaving: tuple[Misbehaving, str],
) -> None:
    from websockets.sync.client import connect

    odd, upstream = misbehaving
    env = {
        **remote(upstream),
        "ASSISTANT_LLM__FALLBACK": "local",
        "ASSISTANT_LLM__REMOTE_MODEL": "odd",  # named: the server is not asked at start
        "ASSISTANT_LLM__RETRIES": "0",
    }
    proc, relay = start(env=env)
    try:
        with connect(ws_url(relay) + "/voice", max_size=None) as ws:
            assert json.loads(ws.recv(timeout=60))["type"] == "ready"
            odd.mode = "broken"  # started, then broke off: the turn's error, not a second voice
            ws.send(json.dumps({"type": "text", "text": "Hi there."}))
            messages, _ = voice_messages(ws, "reply")
            assert messages[-1]["finish_reason"] == "error"
            assert any(m["type"] == "error" for m in messages)
            odd.mode, odd.asked = "busy", 0  # refused before any text: the local model answers
            ws.send(json.dumps({"type": "text", "text": "What is the capital of France?"}))
            messages, _ = voice_messages(ws, "reply")
            assert not any(m["type"] == "error" for m in messages)
            reply = messages[-1]
            assert reply["finish_reason"] in ("stop", "length") and reply["text"].strip()
            assert reply["text"] != "Hello." and odd.asked == 1
            odd.mode, odd.asked = "fine", 0  # within the cool-down the remote is left alone
            ws.send(json.dumps({"type": "text", "text": "And of Spain?"}))
            messages, _ = voice_messages(ws, "reply")
            assert messages[-1]["text"].strip() and odd.asked == 0
    finally:
        proc.terminate()
        proc.wait(10)
    stderr = proc.stderr.read()  # type: ignore[union-attr]
    assert "Traceback" not in stderr and stderr.count("the local model answers") == 1
