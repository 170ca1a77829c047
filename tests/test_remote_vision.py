"""``vision.backend = "openai"``: pictures answered by a server that takes OpenAI image input.

The servers are real: `assistant serve` with the tiny llava pair of tests/tiny_vlm.py as its
vision model, and llama.cpp's own server with the same pair. The pair's random weights answer
gibberish, but the same gibberish for the same picture and question, greedily: the remote
answer is compared with the local model's, token counts included (the image's tokens are in
the prompt only when the picture really reached the model).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

from assistant import config
from assistant.catalog import ModelStore
from assistant.hardware import placement
from assistant.models.llava import LlamaVisionModel
from assistant.models.loaders import load_vision
from assistant.models.remote_role import RemoteFailed
from assistant.models.remote_vision import RemoteVision
from tests.conftest import run_cli
from tests.llama_server import llama_server
from tests.serving import free_port, openai_client, serving, voice_messages, ws_url
from tests.tiny_vlm import N_IMAGE_TOKENS, make_tiny_vlm

QUESTION = "What is in the picture?"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_tiny_vlm(tmp_path_factory.mktemp("vlm"))


@pytest.fixture(scope="module")
def local(pair: tuple[Path, Path]) -> Iterator[LlamaVisionModel]:
    model = LlamaVisionModel.load(*pair, n_ctx=512)
    yield model
    model.close()


@pytest.fixture(scope="module")
def vision_server(pair: tuple[Path, Path]) -> Iterator[str]:
    """`assistant serve` with the pair as its vision model: its URL."""
    env = {"ASSISTANT_VISION__MODEL": str(pair[0]), "ASSISTANT_VISION__N_CTX": "512"}
    with serving(env=env) as url:
        yield url


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    image = Image.new("RGB", (320, 240), "white")
    ImageDraw.Draw(image).ellipse((40, 40, 200, 200), fill="red")
    path = tmp_path_factory.mktemp("picture") / "circle.png"
    image.save(path)
    return path


def remote_vision(url: str, **settings: object) -> RemoteVision:
    """The vision model of ``vision.backend = "openai"`` at ``url`` (a /v1), as loaded."""
    vision = {"backend": "openai", "url": url, **settings}
    model = load_vision(config.load({"vision": vision}))
    assert isinstance(model, RemoteVision)
    return model


def ask(model: LlamaVisionModel | RemoteVision, picture: Path, max_tokens: int = 8) -> str:
    return "".join(model.answer(model.prepare(picture), QUESTION, max_tokens, 0.0))


def test_assistant_serve_answers_a_picture_as_the_local_model_does(
    local: LlamaVisionModel, vision_server: str, picture: Path
) -> None:
    expected = ask(local, picture)
    remote = remote_vision(f"{vision_server}/v1")
    try:
        assert remote.status().ready
        assert ask(remote, picture) == expected and remote.calls == 1
        assert remote.stats.prompt_tokens == local.stats.prompt_tokens > N_IMAGE_TOKENS
        assert remote.stats.completion_tokens == local.stats.completion_tokens == 8
        assert remote.stats.finish_reason == "length"
        assert remote.name == httpx.get(f"{vision_server}/v1/models").json()["data"][0]["id"]
        alone = "".join(remote.answer(None, QUESTION, 4, 0.0))  # the server's chat model's
        assert alone.strip() and remote.stats.completion_tokens == 4 and remote.calls == 2
    finally:
        remote.close()


def test_a_server_with_a_remote_vision_model_relays_pictures(
    local: LlamaVisionModel, vision_server: str, picture: Path
) -> None:
    from websockets.sync.client import connect

    expected = ask(local, picture)
    uri = "data:image/png;base64," + base64.b64encode(picture.read_bytes()).decode()
    env = {"ASSISTANT_VISION__BACKEND": "openai", "ASSISTANT_VISION__URL": f"{vision_server}/v1"}
    with serving(env=env) as relay:
        content = [
            {"type": "image_url", "image_url": {"url": uri}},
            {"type": "text", "text": QUESTION},
        ]
        relayed = openai_client(relay).chat.completions.create(
            model="any", messages=[{"role": "user", "content": content}], max_tokens=8,
            temperature=0,
        )  # fmt: skip
        assert relayed.choices[0].message.content == expected
        assert relayed.usage and relayed.usage.prompt_tokens == local.stats.prompt_tokens
        health = httpx.get(f"{relay}/health").json()
        assert health["vision_model"] and {"role": "vision", "name": health["vision_model"],
                                           "bytes": None} in health["loaded"]  # fmt: skip
        with connect(ws_url(relay) + "/voice", max_size=None) as ws:
            ready = json.loads(ws.recv(timeout=60))
            assert ready["type"] == "ready" and ready["vision"] is True
            ws.send(json.dumps({"type": "image", "data": uri}))
            ws.send(json.dumps({"type": "text", "text": QUESTION}))
            messages, _ = voice_messages(ws, "reply")
        assert not [m for m in messages if m["type"] == "error"], messages
        assert messages[-1]["text"].strip() and messages[-1]["finish_reason"] in ("stop", "length")


def test_describe_asks_the_remote_vision_model(
    local: LlamaVisionModel, vision_server: str, picture: Path
) -> None:
    ask(local, picture, max_tokens=16)
    sets = ["--set", "vision.backend=openai", "--set", f"vision.url={vision_server}/v1"]
    done = run_cli(*sets, "--set", "vision.temperature=0", "--set", "vision.max_tokens=16",
                   "describe", str(picture), "--json", "--prompt", QUESTION)  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr
    record = json.loads(done.stdout)
    assert record["handler"] == "openai" and record["image_size"] == [320, 240]  # sent whole
    assert record["prompt_tokens"] == local.stats.prompt_tokens  # counted by the server
    assert record["completion_tokens"] == 16
    sets[-1] = f"vision.url=http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    gone = run_cli(*sets, "describe", str(picture))
    assert gone.returncode == 2 and gone.stderr.count("\n") == 1, gone.stderr
    assert "vision.url" in gone.stderr and "Traceback" not in gone.stderr


def test_llama_cpp_server_with_a_multimodal_model_answers_the_picture(
    local: LlamaVisionModel, pair: tuple[Path, Path], picture: Path
) -> None:
    options = ("--clip_model_path", str(pair[1]), "--chat_format", "llava-1-5")
    with llama_server(pair[0], *options, n_ctx=512) as url:
        remote = remote_vision(url, max_side=local.max_side)  # the same pixels as locally
        try:
            assert ask(remote, picture) == ask(local, picture)
            assert remote.stats.completion_tokens == 8 and remote.stats.finish_reason == "length"
            assert remote.name == str(pair[0])  # what the server lists
        finally:
            remote.close()


def test_a_server_whose_model_takes_no_pictures_is_one_clear_failure(picture: Path) -> None:
    settings = config.load()
    text_only = ModelStore(settings.models_dir).resolve("llm", settings.llm.model).path
    with llama_server(text_only) as url:
        remote = remote_vision(url)
        try:
            with pytest.raises(RemoteFailed, match="model that takes pictures"):
                ask(remote, picture)  # llama.cpp's server answers 200 and an empty stream
        finally:
            remote.close()


def test_a_vision_server_that_is_not_there_is_one_clear_failure(picture: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(RemoteFailed, match=r"vision\.url"):  # asked what it serves, at load
        remote_vision(nowhere)
    remote = remote_vision(nowhere, remote_model="m", retries=2)  # loads without asking
    try:
        with pytest.raises(RemoteFailed) as failed:
            ask(remote, picture)
        assert "vision server at http://127.0.0.1" in str(failed.value)
        assert "vision.url" in str(failed.value) and failed.value.before_answer
        assert remote.calls == 3  # tried again twice, then given up
        status = remote.status(timeout_s=1)
        assert not status.ready and status.error and status.backend == "openai"
    finally:
        remote.close()


@pytest.fixture
def odd_server() -> Iterator[tuple[dict[str, str], str]]:
    """A real OpenAI-style server on loopback that answers chat badly, as ``mode`` says: its /v1."""
    import threading

    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, StreamingResponse

    mode = {"mode": "endless"}
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat() -> object:
        if mode["mode"] == "500":
            return JSONResponse({"error": {"message": "out of memory"}}, 500)
        if mode["mode"] == "plain":
            return {"choices": [{"message": {"content": "a cat"}}]}

        async def endless() -> AsyncIterator[str]:
            while True:  # until the client hangs up, which the pause lets the server see
                yield 'data: {"choices": [{"delta": {"content": "and more "}}]}\n\n'
                await asyncio.sleep(0.005)

        return StreamingResponse(endless(), media_type="text/event-stream")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield mode, f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(10)


def test_a_server_answering_badly_is_cut_off_or_refused(
    odd_server: tuple[dict[str, str], str], picture: Path
) -> None:
    mode, url = odd_server
    remote = remote_vision(url, remote_model="m", retries=1)
    try:
        with pytest.raises(RemoteFailed, match="more than 128 characters") as failed:
            ask(remote, picture)  # 8 tokens can hold 128 characters at most
        assert not failed.value.before_answer and remote.calls == 1
        mode["mode"] = "500"
        with pytest.raises(RemoteFailed, match=r"answered 500: .*out of memory"):
            ask(remote, picture)
        assert remote.calls == 3  # a server error is tried once more
        mode["mode"] = "plain"
        with pytest.raises(RemoteFailed, match="without streaming"):
            ask(remote, picture)
        assert remote.calls == 4
    finally:
        remote.close()


def test_the_placement_report_says_the_vision_model_is_remote() -> None:
    remote = config.load({"vision": {"backend": "openai", "url": "http://gpu-box:8000/v1/"}})
    row = placement(remote)[-1]
    assert row == {
        "role": "vision",
        "runs_on": "remote",
        "why": "vision.backend = openai (http://gpu-box:8000/v1)",
    }
    assert "vision" not in [r["role"] for r in placement(config.load())]  # none configured


def test_with_fallback_the_local_model_answers_what_the_server_fails(
    local: LlamaVisionModel,
    pair: tuple[Path, Path],
    odd_server: tuple[dict[str, str], str],
    picture: Path,
) -> None:
    from assistant.models.fallback_vision import FallbackVision

    mode, url = odd_server
    mode["mode"] = "500"
    expected = ask(local, picture)
    settings = {"remote_model": "m", "retries": 0, "fallback": "local", "model": str(pair[0])}
    vision = {"backend": "openai", "url": url, "n_ctx": 512, **settings}
    model = load_vision(config.load({"vision": vision}))
    assert isinstance(model, FallbackVision)
    try:
        assert ask(model, picture) == expected  # refused before any word: the local model
        assert model.calls == 1 and model.fallbacks == 1 and model.stats.completion_tokens
        mode["mode"] = "endless"  # the server rests after a failure: still the local model
        assert ask(model, picture) == expected and model.calls == 1
    finally:
        model.close()
    nowhere = f"http://127.0.0.1:{free_port()}/v1"  # not there at all: the local model answers
    alone = load_vision(config.load({"vision": {**vision, "url": nowhere}}))
    try:
        assert isinstance(alone, FallbackVision) and ask(alone, picture) == expected
        assert alone.fallbacks == 1
    finally:
        alone.close()
