"""The native API against the reference it follows (woolly-api-reference.md), section by section.

Each request is sent exactly as the reference prints it, each answer is checked field by field
(every field the reference shows, with its JSON type; extra fields are allowed), and the
reference's own Python client class runs unchanged. The printed requests, answers and client
are copied here, each under the name of its section; where the reference sits beside the
checkout (../shared/reference/), a test checks that every copy is still what it prints.
"""

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.conftest import REPO
from tests.serving import serving, ws_url

REFERENCE = REPO.parent / "shared" / "reference" / "woolly-api-reference.md"

# --- HTTP API ------------------------------------------------------------------------------

# "Health Check", response
HEALTH = """{
  "status": "ok",
  "version": "0.1.0",
  "uptime": 3600
}"""

# "List Models", response
MODELS = """[
  {
    "name": "llama-7b-q4",
    "size": 3825819648,
    "quantization": "Q4_0",
    "loaded": true,
    "metadata": {
      "author": "Meta",
      "parameters": "7B",
      "license": "Llama 2"
    }
  }
]"""

# "Load Model", request and response
LOAD = """{
  "name": "llama-7b-q4",
  "gpu_layers": 32
}"""
LOADED = """{
  "success": true,
  "message": "Model loaded successfully",
  "load_time_ms": 2340
}"""

# "Unload Model", response
UNLOADED = """{
  "success": true,
  "message": "Model unloaded"
}"""

# "Generate Completion", request, response and stream
GENERATE = """{
  "prompt": "Once upon a time",
  "max_tokens": 200,
  "temperature": 0.7,
  "top_p": 0.9,
  "top_k": 40,
  "repeat_penalty": 1.1,
  "stream": false,
  "stop": ["\\n\\n", "###"],
  "seed": 42
}"""
GENERATED = """{
  "text": "Once upon a time, in a faraway kingdom...",
  "tokens_generated": 50,
  "generation_time_ms": 1234,
  "tokens_per_second": 40.5,
  "finish_reason": "stop"
}"""
STREAMED = """data: {"token": "Once", "id": 0}
data: {"token": " upon", "id": 1}
data: {"token": " a", "id": 2}
data: {"token": " time", "id": 3}
data: [DONE]"""

# "Chat Completion", request and response
CHAT = """{
  "messages": [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"}
  ],
  "max_tokens": 200,
  "temperature": 0.7,
  "stream": false
}"""
CHATTED = """{
  "content": "The capital of France is Paris.",
  "role": "assistant",
  "tokens_generated": 8,
  "generation_time_ms": 234,
  "finish_reason": "stop"
}"""

# "Tokenize" and "Detokenize", requests and responses
TOKENIZE = """{
  "text": "Hello, world!"
}"""
TOKENIZED = """{
  "tokens": [15043, 29892, 3186, 29991],
  "count": 4
}"""
DETOKENIZE = """{
  "tokens": [15043, 29892, 3186, 29991]
}"""
DETOKENIZED = """{
  "text": "Hello, world!"
}"""

# "Embeddings", request and response (its "..." stands for the other numbers)
EMBED = """{
  "input": "The quick brown fox",
  "model": "llama-7b"
}"""
EMBEDDED = """{
  "embeddings": [[0.123, -0.456, 0.789, ...]],
  "dimensions": 4096,
  "model": "llama-7b"
}"""

# --- WebSocket API -------------------------------------------------------------------------

WS_GENERATE = """{
  "type": "generate",
  "id": "req-123",
  "prompt": "Tell me a story",
  "config": {
    "max_tokens": 200,
    "temperature": 0.7,
    "top_p": 0.9
  }
}"""
WS_CHAT = """{
  "type": "chat",
  "id": "req-456",
  "messages": [
    {"role": "user", "content": "Hello!"}
  ],
  "config": {
    "max_tokens": 200,
    "temperature": 0.7
  }
}"""
WS_CANCEL = """{
  "type": "cancel",
  "id": "req-123"
}"""
WS_TOKEN = """{
  "type": "token",
  "request_id": "req-123",
  "token": "Once",
  "index": 0,
  "timestamp": 1234567890
}"""
WS_COMPLETE = """{
  "type": "complete",
  "request_id": "req-123",
  "text": "Once upon a time...",
  "tokens_generated": 50,
  "generation_time_ms": 1234,
  "finish_reason": "stop"
}"""
WS_ERROR = """{
  "type": "error",
  "request_id": "req-123",
  "error": "Model not loaded",
  "code": "MODEL_NOT_LOADED"
}"""
WS_STATUS = """{
  "type": "status",
  "model": "llama-7b",
  "active_sessions": 3,
  "memory_used": 4294967296,
  "gpu_memory_used": 2147483648
}"""

# --- Error Handling ------------------------------------------------------------------------

# "Error Response Format"
ERROR = """{
  "error": {
    "message": "Model not found: llama-7b",
    "code": "MODEL_NOT_FOUND",
    "details": {
      "model": "llama-7b",
      "available_models": ["llama-13b", "mistral-7b"]
    }
  }
}"""

# "Error Codes": code -> HTTP status
ERROR_CODES = {
    "MODEL_NOT_FOUND": 404,
    "MODEL_NOT_LOADED": 400,
    "MODEL_LOAD_FAILED": 500,
    "INVALID_REQUEST": 400,
    "GENERATION_FAILED": 500,
    "OUT_OF_MEMORY": 507,
    "GPU_ERROR": 500,
    "TOKENIZER_ERROR": 500,
    "RATE_LIMITED": 429,
    "UNAUTHORIZED": 401,
    "INTERNAL_ERROR": 500,
}

# --- Examples, "HTTP Client Example": the class as printed ---------------------------------

CLIENT = """import requests
import json

class WoollyClient:
    def __init__(self, base_url="http://localhost:11434"):
        self.base_url = base_url

    def generate(self, prompt, **kwargs):
        response = requests.post(
            f"{self.base_url}/api/generate",
            json={
                "prompt": prompt,
                "max_tokens": kwargs.get("max_tokens", 200),
                "temperature": kwargs.get("temperature", 0.7),
                "stream": False
            }
        )
        response.raise_for_status()
        return response.json()["text"]

    def generate_stream(self, prompt, **kwargs):
        response = requests.post(
            f"{self.base_url}/api/generate",
            json={
                "prompt": prompt,
                "max_tokens": kwargs.get("max_tokens", 200),
                "temperature": kwargs.get("temperature", 0.7),
                "stream": True
            },
            stream=True
        )
        response.raise_for_status()

        for line in response.iter_lines():
            if line:
                line = line.decode('utf-8')
                if line.startswith('data: '):
                    data = line[6:]
                    if data == '[DONE]':
                        break
                    yield json.loads(data)["token"]
"""

# The reference's Rust ModelMetadata declares these Option<String>: null where a file says nothing
OPTIONAL = {"metadata.author", "metadata.license", "metadata.parameters"}


def example(text: str) -> Any:
    """A printed JSON example as data (the reference writes "..." for "and so on")."""
    return json.loads(text.replace(", ...", ""))


def conforms(answer: Any, printed: Any, where: str = "") -> None:
    """Every field of ``printed`` is in ``answer`` with the same JSON type (extras allowed)."""
    if where in OPTIONAL and answer is None:
        return
    if isinstance(printed, bool):
        assert isinstance(answer, bool), (where, answer)
    elif isinstance(printed, int):
        assert isinstance(answer, int) and not isinstance(answer, bool), (where, answer)
    elif isinstance(printed, float):
        assert isinstance(answer, int | float) and not isinstance(answer, bool), (where, answer)
    elif isinstance(printed, str):
        assert isinstance(answer, str), (where, answer)
    elif isinstance(printed, list):
        assert isinstance(answer, list), (where, answer)
        for item in answer if printed else []:
            conforms(item, printed[0], where)
    else:
        assert isinstance(answer, dict), (where, answer)
        for name, value in printed.items():
            inner = f"{where}.{name}" if where else name
            assert name in answer, f"{inner} is missing from {answer}"
            conforms(answer[name], value, inner)


def post(url: str, printed: str, timeout: float = 120) -> httpx.Response:
    """POST a body exactly as the reference prints it."""
    headers = {"Content-Type": "application/json"}
    return httpx.post(url, content=printed, headers=headers, timeout=timeout)


def refused(answer: httpx.Response, code: str) -> dict[str, Any]:
    """The error of ``answer``, checked against the error format and the code table."""
    assert answer.status_code == ERROR_CODES[code], answer.text
    body = answer.json()
    assert body["error"]["code"] == code, body
    conforms(body["error"], {"message": "", "code": "", "details": {}}, "error")
    return dict(body["error"])


# --- HTTP API ------------------------------------------------------------------------------


def test_health_check(server: str) -> None:
    answer = httpx.get(f"{server}/health")
    assert answer.status_code == 200
    conforms(answer.json(), example(HEALTH))
    assert answer.json()["status"] == "ok"


def test_list_models_lists_what_load_takes(server: str) -> None:
    listed = httpx.get(f"{server}/api/models", timeout=60).json()
    conforms(listed, example(MODELS))
    (loaded,) = [m for m in listed if m["loaded"]]
    assert loaded["name"] == "smollm2-135m-instruct" and loaded["quantization"] == "Q4_1"
    assert loaded["size"] == 98362432  # the file's bytes, as the manifest has them


def test_generate_completion(server: str) -> None:
    answer = post(f"{server}/api/generate", GENERATE)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    conforms(body, example(GENERATED))
    assert body["finish_reason"] in ("stop", "length") and 1 <= body["tokens_generated"] <= 200
    assert "\n\n" not in body["text"] and "###" not in body["text"]  # the stop strings


def test_generate_completion_streams_tokens_then_done(server: str) -> None:
    whole = post(f"{server}/api/generate", GENERATE).json()
    streaming = GENERATE.replace('"stream": false', '"stream": true')
    json_type = {"Content-Type": "application/json"}
    with httpx.stream(
        "POST", f"{server}/api/generate", content=streaming, headers=json_type, timeout=120
    ) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in answer.iter_lines() if line]
    printed = STREAMED.splitlines()
    assert lines[-1] == printed[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)
    events = [json.loads(line[6:]) for line in lines[:-1]]
    for event in events:  # token events only: no summary, no error
        conforms(event, json.loads(printed[0][6:]))
    assert [e["id"] for e in events] == list(range(len(events)))
    assert "".join(e["token"] for e in events) == whole["text"]  # seed 42: the same reply


def test_chat_completion(server: str) -> None:
    answer = post(f"{server}/api/chat", CHAT)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    conforms(body, example(CHATTED))
    assert body["role"] == "assistant" and body["content"]


def test_tokenize_and_detokenize(server: str) -> None:
    tokens = post(f"{server}/api/tokenize", TOKENIZE).json()
    conforms(tokens, example(TOKENIZED))
    assert tokens["count"] == len(tokens["tokens"])
    printed = post(f"{server}/api/detokenize", DETOKENIZE)  # ids of another vocabulary
    assert printed.status_code == 200, printed.text
    conforms(printed.json(), example(DETOKENIZED))
    ours = httpx.post(f"{server}/api/detokenize", json={"tokens": tokens["tokens"]}).json()
    assert ours["text"] == "Hello, world!"


def test_embeddings(server: str) -> None:
    answer = post(f"{server}/api/embeddings", EMBED)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    conforms(body, example(EMBEDDED))
    assert len(body["embeddings"]) == 1 and len(body["embeddings"][0]) == body["dimensions"]
    assert body["model"] == "smollm2-135m-instruct"  # the model that made them


# --- WebSocket API -------------------------------------------------------------------------


def _until_done(ws: ClientConnection, request_id: str) -> list[dict[str, Any]]:
    """The events of one request up to its complete or error event."""
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] not in ("complete", "error"):
        event = json.loads(ws.recv(timeout=120))
        if event.get("request_id") == request_id:
            events.append(event)
    return events


def test_websocket_status_generate_chat_and_cancel(server: str) -> None:
    with connect(ws_url(server)) as ws:
        status = json.loads(ws.recv(timeout=10))
        conforms(status, example(WS_STATUS))
        assert status["memory_used"] > 0
        for request, rid in ((WS_GENERATE, "req-123"), (WS_CHAT, "req-456")):
            ws.send(request)
            *tokens, done = _until_done(ws, rid)
            for index, token in enumerate(tokens):
                conforms(token, example(WS_TOKEN))
                assert token["index"] == index
            conforms(done, example(WS_COMPLETE))
            assert done["text"] == "".join(t["token"] for t in tokens)
        ws.send(WS_GENERATE)
        assert json.loads(ws.recv(timeout=120))["type"] == "token"
        ws.send(WS_CANCEL)
        done = _until_done(ws, "req-123")[-1]
        conforms(done, example(WS_COMPLETE))
        assert done["finish_reason"] == "cancelled"


def test_websocket_client_example_protocol(server: str) -> None:
    # What the reference's WoollyWebSocket (JavaScript) sends and how it dispatches answers:
    # an id of `req-${Date.now()}`, handlers by request_id, removed on complete or error.
    handlers: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with connect(ws_url(server)) as ws:
        statuses = [json.loads(ws.recv(timeout=10))]
        request_id = f"req-{int(time.time() * 1000)}"
        handlers[request_id] = {"onToken": [], "onComplete": [], "onError": []}
        config = {"max_tokens": 200, "temperature": 0.7}
        message = {"type": "generate", "id": request_id, "prompt": "Tell me a story"}
        ws.send(json.dumps({**message, "config": config}))
        while request_id in handlers:
            event = json.loads(ws.recv(timeout=120))
            kind = {"token": "onToken", "complete": "onComplete", "error": "onError"}
            if event["type"] == "status":
                statuses.append(event)
            elif event["type"] in kind:
                handlers[event["request_id"]][kind[event["type"]]].append(event)
                if event["type"] != "token":
                    seen = handlers.pop(event["request_id"])
    assert statuses[0]["type"] == "status"
    assert not seen["onError"] and len(seen["onComplete"]) == 1
    assert seen["onComplete"][0]["text"] == "".join(t["token"] for t in seen["onToken"])


# --- Examples ------------------------------------------------------------------------------


def test_http_client_example_runs_unchanged(server: str) -> None:
    scope: dict[str, Any] = {}
    exec(compile(CLIENT, "woolly-api-reference.md (HTTP Client Example)", "exec"), scope)
    client = scope["WoollyClient"](base_url=server)
    text = client.generate("Once upon a time")
    assert isinstance(text, str) and text
    tokens = list(client.generate_stream("Tell me a story"))
    assert tokens and all(isinstance(t, str) for t in tokens) and "".join(tokens)


# --- Error Handling, then loading and unloading (last: they change what is loaded) ---------


def test_errors_follow_the_format_and_the_code_table(server: str) -> None:
    conforms(example(ERROR)["error"], {"message": "", "code": "", "details": {}})
    missing_prompt = post(f"{server}/api/generate", '{"max_tokens": 200}')
    assert "prompt" in refused(missing_prompt, "INVALID_REQUEST")["message"]
    too_hot = post(f"{server}/api/generate", GENERATE.replace("0.7", "-1"))
    refused(too_hot, "INVALID_REQUEST")
    unknown = post(f"{server}/api/models/load", LOAD)  # no model of that name here
    details = refused(unknown, "MODEL_NOT_FOUND")["details"]
    assert "smollm2-135m-instruct" in details["available_models"]
    with connect(ws_url(server)) as ws:
        ws.recv(timeout=10)
        ws.send(WS_GENERATE.replace('"temperature": 0.7', '"temperature": "hot"'))
        (error,) = _until_done(ws, "req-123")
        conforms(error, example(WS_ERROR))
        assert error["code"] == "INVALID_REQUEST" and "temperature" in error["error"]


def test_unload_then_load_the_listed_name(server: str) -> None:
    listed = httpx.get(f"{server}/api/models", timeout=60).json()
    name = next(m["name"] for m in listed if m["loaded"])
    unloaded = httpx.post(f"{server}/api/models/unload", timeout=60)
    assert unloaded.status_code == 200
    conforms(unloaded.json(), example(UNLOADED))
    after = httpx.get(f"{server}/api/models", timeout=60).json()
    conforms(after, example(MODELS))
    assert [m["name"] for m in after] == [m["name"] for m in listed]
    assert not any(m["loaded"] for m in after)
    refused(post(f"{server}/api/generate", GENERATE), "MODEL_NOT_LOADED")
    refused(post(f"{server}/api/chat", CHAT), "MODEL_NOT_LOADED")
    with connect(ws_url(server)) as ws:
        ws.recv(timeout=10)
        ws.send(WS_GENERATE)
        (error,) = _until_done(ws, "req-123")
        conforms(error, example(WS_ERROR))
        assert error["code"] == "MODEL_NOT_LOADED"
    loaded = post(f"{server}/api/models/load", LOAD.replace("llama-7b-q4", name))
    assert loaded.status_code == 200, loaded.text
    conforms(loaded.json(), example(LOADED))
    assert loaded.json()["success"] is True
    assert [m["name"] for m in httpx.get(f"{server}/api/models").json() if m["loaded"]] == [name]
    assert post(f"{server}/api/chat", CHAT).status_code == 200


def test_authentication_and_rate_limit_codes(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(4096))
    env = {"ASSISTANT_MODELS_DIR": str(tmp_path), "ASSISTANT_SERVER__RATE_LIMIT_PER_MINUTE": "4"}
    with serving("--api-key", "s3cret", env=env) as url:
        refused(httpx.post(f"{url}/api/tokenize", json={"text": "x"}), "UNAUTHORIZED")
        # "Authentication", as printed
        key = {"Authorization": "Bearer s3cret", "Content-Type": "application/json"}
        failed = httpx.post(f"{url}/api/models/load", json={"name": broken.name}, headers=key)
        assert str(tmp_path) not in refused(failed, "MODEL_LOAD_FAILED")["message"]
        answers = [
            httpx.post(f"{url}/api/tokenize", content=TOKENIZE, headers=key) for _ in range(6)
        ]
        assert answers[0].status_code == 200
        refused(answers[-1], "RATE_LIMITED")


def test_copies_are_what_the_reference_prints() -> None:
    if not REFERENCE.is_file():
        pytest.skip(f"the reference is not beside this checkout ({REFERENCE})")
    # lines holding only spaces are kept empty here (the client's blank lines have some there)
    printed = "\n".join(
        line.rstrip() if not line.strip() else line
        for line in REFERENCE.read_text(encoding="utf-8").splitlines()
    )
    copies = [v for k, v in globals().items() if k.isupper() and isinstance(v, str)]
    for copy in copies:
        assert copy in printed, copy[:60]
    rows = [line.split("|") for line in printed.splitlines() if line.startswith("| `")]
    table = {row[1].strip(" `"): int(row[3]) for row in rows}
    assert table == ERROR_CODES
