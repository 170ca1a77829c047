"""The server against forged and hostile requests.

Foreign Host and Origin, arbitrary model paths, text that is not Unicode, malformed WebSocket
messages and oversized inputs, each against a real server.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from assistant.config import ServerSettings
from assistant.server.guard import bearer_token, host_allowed, origin_allowed
from tests.serving import serving, start, ws_url

EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    (folder / "broken.gguf").write_bytes(b"GGUF" + os.urandom(4096))
    return folder


@pytest.fixture(scope="module")
def single_voice_server(models_dir: Path) -> Iterator[str]:
    """A server that admits one voice session, with a broken model among its models."""
    env = {
        "ASSISTANT_MODELS_DIR": str(models_dir),
        "ASSISTANT_SERVER__MAX_VOICE_SESSIONS": "1",
    }
    with serving(env=env) as url:
        yield url


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]


def test_foreign_origin_cannot_change_state_and_the_model_stays(single_voice_server: str) -> None:
    refused = httpx.post(f"{single_voice_server}/api/models/unload", headers={"Origin": EVIL})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN_ORIGIN"
    assert httpx.get(f"{single_voice_server}/health").json()["model"]
    text = {"text": "hi"}
    for origin in ("null", "file://", "http://evil.example:" + _port(single_voice_server)):
        answer = httpx.post(
            f"{single_voice_server}/api/tokenize", json=text, headers={"Origin": origin}
        )
        assert answer.status_code == 403, origin
    for origin in (
        single_voice_server,
        "http://localhost:3000",
    ):  # the page itself, a local dev page
        answer = httpx.post(
            f"{single_voice_server}/api/tokenize", json=text, headers={"Origin": origin}
        )
        assert answer.status_code == 200, origin


def test_dns_rebinding_host_is_refused_on_every_route(single_voice_server: str) -> None:
    host = {"Host": f"evil.example:{_port(single_voice_server)}"}
    for path in ("/health", "/v1/models", "/"):
        answer = httpx.get(f"{single_voice_server}{path}", headers=host)
        # the code is each API's (INVALID_REQUEST on the native one); the type names the cause
        assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_host"
    post = httpx.post(f"{single_voice_server}/api/tokenize", json={"text": "x"}, headers=host)
    assert post.status_code == 400
    rebound = f"evil.example:{_port(single_voice_server)}"
    for path in ("", "/voice"):  # the page's own name in Host and Origin, reaching loopback
        with pytest.raises(InvalidStatus) as caught:
            connect(
                f"ws://{rebound}/ws{path}",
                sock=socket.create_connection(("127.0.0.1", int(_port(single_voice_server)))),
                origin=f"http://{rebound}",  # type: ignore[arg-type]
            ).close()
        assert caught.value.response.status_code == 403
    for name in ("localhost", "127.0.0.1", "[::1]"):  # loopback names still work
        headers = {"Host": f"{name}:{_port(single_voice_server)}"}
        assert httpx.get(f"{single_voice_server}/health", headers=headers).status_code == 200


def test_host_and_origin_rules() -> None:
    settings = ServerSettings(allowed_hosts=["assistant.lan"], allowed_origins=["https://ha.lan"])
    assert host_allowed("assistant.lan:8765", settings)
    assert host_allowed("192.168.1.20:8765", settings) and host_allowed("app.localhost", settings)
    assert not host_allowed("evil.example", settings) and not host_allowed("x:99999", settings)
    assert origin_allowed("https://ha.lan", "localhost:8765", settings)
    assert not origin_allowed("https://evil.example", "localhost:8765", settings)
    assert bearer_token("Bearer k1") == "k1" and bearer_token("k1") == ""


def test_bare_authorization_key_is_refused() -> None:
    proc, url = start("--api-key", "s3cret")
    try:
        bare = httpx.post(
            f"{url}/api/tokenize", json={"text": "x"}, headers={"Authorization": "s3cret"}
        )
        assert bare.status_code == 401
        with pytest.raises(InvalidStatus):
            connect(ws_url(url), additional_headers={"Authorization": "s3cret"}).close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_model_load_takes_catalog_names_and_models_folder_files_only(
    single_voice_server: str, models_dir: Path
) -> None:
    model = httpx.get(f"{single_voice_server}/health").json()["model"]
    answers = []
    for name in ("/etc/passwd", "/etc/shadow", "~/.ssh/id_rsa", "/nonexistent", "/", "../x"):
        answer = httpx.post(
            f"{single_voice_server}/api/models/load", json={"model": name}, timeout=30
        )
        assert answer.status_code == 404, (name, answer.text)
        assert "/etc" not in answer.text and "root" not in answer.text
        answers.append(answer.json())
    assert all(a == answers[0] for a in answers)  # nothing tells which files exist
    broken = httpx.post(
        f"{single_voice_server}/api/models/load", json={"model": "broken.gguf"}, timeout=60
    )
    assert broken.status_code == 500 and str(models_dir) not in broken.text
    assert broken.json()["error"]["code"] == "MODEL_LOAD_FAILED"  # the reference's table
    assert (
        httpx.get(f"{single_voice_server}/health").json()["model"] == model
    )  # the old one still serves
    reply = httpx.post(
        f"{single_voice_server}/api/generate", json={"prompt": "Hi", "max_tokens": 2}, timeout=60
    )
    assert reply.status_code == 200
    loaded = httpx.post(
        f"{single_voice_server}/api/models/load",
        json={"model": "smollm2-135m-instruct"},
        timeout=120,
    )
    assert loaded.status_code == 200, loaded.text


def test_lone_surrogates_and_broken_utf8_are_refused_in_the_error_shape(
    single_voice_server: str,
) -> None:
    lone = '"\\ud800"'
    bodies = {
        "/v1/chat/completions": '{"messages": [{"role": "user", "content": ' + lone + "}]}",
        "/api/tokenize": '{"text": ' + lone + "}",
        "/v1/embeddings": '{"input": [' + lone + "]}",
        "/api/chat": '{"messages": [{"role": "user", "content": "hi"}], "stop": ' + lone + "}",
    }
    json_type = {"content-type": "application/json"}
    for path, body in bodies.items():
        answer = httpx.post(f"{single_voice_server}{path}", content=body, headers=json_type)
        # OpenAI's 422 under /v1; the reference's 400 INVALID_REQUEST on the native API
        openai = path.startswith("/v1/")
        assert answer.status_code == (422 if openai else 400), (path, answer.text)
        code = "invalid_request" if openai else "INVALID_REQUEST"
        assert answer.json()["error"]["code"] == code
    broken = httpx.post(
        f"{single_voice_server}/api/tokenize", content=b'{"text": "\xff\xfe"}', headers=json_type
    )
    assert broken.status_code in (400, 422) and "error" in broken.json(), broken.text


def test_websocket_fields_are_validated(single_voice_server: str) -> None:
    bad = [
        {"type": "generate", "id": "d", "prompt": "hi", "config": "x"},
        {"type": "generate", "id": "e", "prompt": "hi", "config": {"prompt": "x"}},
        {"type": "generate", "id": "f", "prompt": "hi", "config": {"temprature": 1}},
        {"type": "generate", "id": "g", "prompt": "hi", "mode": "fast"},
        {"type": "chat", "id": "h", "messages": "hi"},
        {"type": "generate", "id": {"a": 1}, "prompt": "hi"},
        {"type": "generate", "id": "i", "prompt": "\ud800"},
        {"type": "generate", "id": "j", "prompt": "hi", "config": {"seed": 2**32}},
    ]
    with connect(ws_url(single_voice_server)) as ws:
        status = json.loads(ws.recv(timeout=10))
        assert status["type"] == "status" and isinstance(status["memory_used"], int)
        for message in bad:
            ws.send(json.dumps(message))
            reply = json.loads(ws.recv(timeout=10))
            assert reply["type"] == "error" and reply["code"] == "INVALID_REQUEST", (message, reply)
        ws.send(json.dumps({"type": "generate", "id": "ok", "prompt": "Hi", "max_tokens": 2}))
        while (reply := json.loads(ws.recv(timeout=60)))["type"] == "token":
            pass
        assert reply["type"] == "complete" and reply["tokens_generated"] == 2


def test_input_limits(single_voice_server: str) -> None:
    speech = httpx.post(
        f"{single_voice_server}/v1/audio/speech", json={"input": "a " * 2100, "model": "x"}
    )
    assert speech.status_code == 422
    many = httpx.post(
        f"{single_voice_server}/v1/embeddings", json={"input": ["x"] * 2000}, timeout=30
    )
    assert many.status_code == 400 and "max_embedding_inputs" in many.text
    seed = httpx.post(f"{single_voice_server}/api/generate", json={"prompt": "x", "seed": 2**32})
    assert seed.status_code == 400 and seed.json()["error"]["code"] == "INVALID_REQUEST"
    docs = httpx.get(f"{single_voice_server}/docs").text
    assert "/docs-static/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert httpx.get(f"{single_voice_server}/docs-static/swagger-ui-bundle.js").status_code == 200


def test_a_full_voice_server_closes_with_1013_and_a_reason(single_voice_server: str) -> None:
    with connect(ws_url(single_voice_server) + "/voice") as first:
        assert json.loads(first.recv(timeout=60))["type"] == "ready"
        with (
            connect(ws_url(single_voice_server) + "/voice") as second,
            pytest.raises(ConnectionClosed) as c,
        ):
            second.recv(timeout=10)
        assert c.value.rcvd is not None and c.value.rcvd.code == 1013
        assert "too many voice sessions" in c.value.rcvd.reason
