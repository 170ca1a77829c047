"""Vision on a tiny llava-style model pair generated here (random weights, real code path).

The image really goes through llama.cpp's mtmd encoder and its tokens into the prompt; the
answer is gibberish, which is all random weights can say.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from assistant.errors import DeviceError, InputError, ModelError
from assistant.llm.sampling import SamplerParams
from assistant.models.llava import LlamaVisionModel
from assistant.models.loaders import Models
from assistant.models.request import TextRequest
from assistant.models.seeing import Eyes, SeeingChatModel
from assistant.types import ChatMessage
from assistant.vision.camera import Camera
from assistant.vision.images import prepare_image
from tests import corpus, media
from tests.conftest import ASSISTANT, REPO
from tests.tiny_vlm import IMAGE_SIZE, N_IMAGE_TOKENS, make_mismatched_mmproj, make_tiny_vlm


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_tiny_vlm(tmp_path_factory.mktemp("vlm"))


@pytest.fixture(scope="module")
def vlm(pair: tuple[Path, Path]) -> Iterator[LlamaVisionModel]:
    model = LlamaVisionModel.load(*pair, n_ctx=512)
    yield model
    model.close()


def picture(path: Path, size: tuple[int, int] = (320, 240)) -> Path:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).ellipse((40, 40, 200, 200), fill="red")
    image.save(path)
    return path


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ASSISTANT, *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_image_tokens_enter_the_prompt_and_text_comes_back(
    vlm: LlamaVisionModel, tmp_path: Path
) -> None:
    assert vlm.handler == "llava15"  # inferred from the projector's metadata
    image = vlm.prepare(picture(tmp_path / "circle.png"))
    assert max(image.width, image.height) == IMAGE_SIZE  # shrunk to the encoder's input
    question = "What is in this picture?"
    text = "".join(vlm.answer(image, question, max_tokens=8, temperature=0.0))
    with_image = vlm.stats.prompt_tokens
    "".join(vlm.answer(None, question, max_tokens=8, temperature=0.0))
    without = vlm.stats.prompt_tokens
    # one more: the text around the image marker is tokenized in two parts
    assert with_image - without in (N_IMAGE_TOKENS, N_IMAGE_TOKENS + 1)
    assert text and vlm.stats.completion_tokens > 0  # random weights: any text at all


def test_answer_stops_when_cancelled(vlm: LlamaVisionModel, tmp_path: Path) -> None:
    image = vlm.prepare(picture(tmp_path / "circle.png"))
    cancel = threading.Event()
    pieces = []
    for piece in vlm.answer(image, "Describe it.", max_tokens=64, cancel=cancel):
        pieces.append(piece)
        cancel.set()
    assert len(pieces) == 1 and vlm.stats.completion_tokens == 1


def test_normalisation_orientation_alpha_size_and_input_kinds(tmp_path: Path) -> None:
    sideways = corpus.photo(tmp_path / "sideways.jpg", size=(300, 200), orientation=6)
    upright = prepare_image(sideways, max_side=1024)
    assert (upright.width, upright.height) == (200, 300)  # EXIF orientation applied
    clear = Image.new("RGBA", (50, 40), (0, 0, 0, 0))
    flat = Image.open(io.BytesIO(prepare_image(clear).png))
    assert flat.mode == "RGB" and flat.getpixel((10, 10)) == (255, 255, 255)  # onto white
    huge = prepare_image(Image.new("RGB", (6000, 4000), "blue"), max_side=448)
    assert (huge.width, huge.height, huge.source_width) == (448, 299, 6000)
    small = prepare_image(np.zeros((20, 30, 3), np.uint8), max_side=448)
    assert (small.width, small.height) == (30, 20)  # never enlarged
    as_bytes = prepare_image(sideways.read_bytes(), max_side=100)
    assert as_bytes.height == 100 and as_bytes.data_uri().startswith("data:image/png;base64,")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"not an image at all", "not an image"), (None, "not found")],
)
def test_bad_images_are_one_clear_error(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        prepare_image(path)


def test_camera_frames_from_a_video_file_after_the_warm_up(tmp_path: Path) -> None:
    video = tmp_path / "camera.mp4"
    with av.open(str(video), "w") as out:  # one second of red, then blue: exposure settling
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(30):
            colour = (255, 0, 0) if i < 10 else (0, 0, 255)
            pixels = np.full((48, 64, 3), colour, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        out.mux(stream.encode(None))
    with Camera(str(video), warmup_s=1.0) as camera:
        red, _, blue = camera.snapshot().convert("RGB").getpixel((32, 24))  # type: ignore[misc]
        assert blue > 200 and red < 50
        assert len(list(camera.frames(every_s=0.5, count=3))) == 3
    with Camera(str(video), warmup_s=0.0) as camera:
        assert len(list(camera.frames(every_s=1.0))) == 3  # one a second until the end


def test_missing_camera_is_one_clear_error() -> None:
    with pytest.raises(DeviceError, match="not found"):
        Camera("/dev/video77")


def test_a_camera_source_without_video_is_one_clear_error(tmp_path: Path) -> None:
    song = media.write_encoded(
        tmp_path / "song.mp3", media.noise(1.0), media.RATE, "mp3", media.RATE, "mono"
    )
    with pytest.raises(DeviceError, match="has no video"):
        Camera(str(song))


def test_mismatched_and_corrupt_projectors_are_refused(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    model = pair[0]
    wrong = make_mismatched_mmproj(tmp_path)
    with pytest.raises(ModelError, match="does not belong"):
        LlamaVisionModel.load(model, wrong)
    corrupt = tmp_path / "corrupt-mmproj.gguf"
    corrupt.write_bytes(os.urandom(100))
    with pytest.raises(ModelError, match="not a readable GGUF"):
        LlamaVisionModel.load(model, corrupt)
    with pytest.raises(ModelError, match="not a vision projector"):
        LlamaVisionModel.load(model, model)
    with pytest.raises(ModelError, match="not found"):
        LlamaVisionModel.load(model, tmp_path / "missing-mmproj.gguf")


def test_describe_cli_json(pair: tuple[Path, Path], tmp_path: Path) -> None:
    model, _ = pair
    image = picture(tmp_path / "circle.jpg", size=(640, 480))
    done = run("--set", f"vision.model={model}", "describe", str(image), "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # llama.cpp and the image encoder stay quiet
    record = json.loads(done.stdout)
    assert record["description"] and record["handler"] == "llava15"
    assert record["source_size"] == [640, 480] and record["image_size"] == [32, 24]
    assert record["prompt_tokens"] > N_IMAGE_TOKENS and record["timings_ms"]["total"] > 0


def test_describe_cli_camera_from_a_video(pair: tuple[Path, Path], tmp_path: Path) -> None:
    video = corpus.write_video(tmp_path / "cam.mp4", seconds=3.0, with_audio=False)
    done = run(
        "--set", f"vision.model={pair[0]}", "describe", "--camera", str(video),
        "--every", "1", "--count", "2", "--json", "--prompt", "What do you see?",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["image"].endswith(f"frame {i}") for i, r in enumerate(records, 1)] == [True, True]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "models pull"),  # no vision model configured
        (("--set", "vision.model=/nowhere/model.gguf"), "not found"),
        (("--set", "vision.model={model}", "--set", "vision.mmproj=/nowhere.gguf"), "not found"),
        (("--set", "vision.model={model}", "--set", "vision.mmproj={wrong}"), "does not belong"),
    ],
)
def test_describe_cli_errors_are_one_line(
    pair: tuple[Path, Path], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    wrong = make_mismatched_mmproj(tmp_path)
    image = picture(tmp_path / "ok.png")
    filled = [a.format(model=pair[0], wrong=wrong) for a in args]
    done = run(*filled, "describe", str(image))
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize("content", [b"garbage bytes", b""])
def test_describe_cli_bad_image_fails_before_loading(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(content)
    done = run("describe", str(bad))  # no model configured: the image is checked first
    assert done.returncode == 2 and "photo.jpg" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_models_list_shows_the_vision_model(pair: tuple[Path, Path]) -> None:
    done = run("--set", f"vision.model={pair[0]}", "models", "list", "--json")
    rows = [r for r in json.loads(done.stdout) if r["kind"] == "vision"]
    assert len(rows) == 1 and rows[0]["in_use"] and rows[0]["mmproj"].endswith("mmproj.gguf")


def test_models_pull_offline_is_one_clear_line(tmp_path: Path) -> None:
    # a closed port on loopback stands in for "no internet"
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf")}
    done = run("--set", f"models_dir={tmp_path}", "models", "pull", "smolvlm-256m", env=env)
    assert done.returncode == 2 and "unreachable" in done.stderr, done.stderr
    assert "refused" in done.stderr  # it really tried: start-up's default offline mode is lifted
    assert len(done.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "vision").rglob("*.gguf"))  # nothing half-written


def test_conversation_looks_through_the_camera_on_a_trigger_phrase(
    vlm: LlamaVisionModel, models: Models, tmp_path: Path
) -> None:
    assert models.llm is not None
    video = corpus.write_video(tmp_path / "room.mp4", seconds=2.0, with_audio=False)
    eyes = Eyes(camera=str(video), triggers=("what do you see",), warmup_s=0.5)
    seeing = SeeingChatModel(models.llm, vlm, eyes)
    asked = TextRequest.of(SamplerParams(temperature=0.0), 8, [])

    def reply(words: str) -> str:
        vlm.stats.prompt_tokens = 0
        messages = [ChatMessage("user", words)]
        return "".join(seeing.stream_chat(messages, asked, threading.Event()))

    assert reply("Hello, what do you see?") and vlm.stats.prompt_tokens > N_IMAGE_TOKENS
    assert reply("Name a colour.") and vlm.stats.prompt_tokens == 0  # the chat model answered


def test_ask_about_an_image_file(pair: tuple[Path, Path], tmp_path: Path) -> None:
    image = picture(tmp_path / "circle.png")
    done = run(
        "--set", f"vision.model={pair[0]}", "ask", "What is in the picture?",
        "--image", str(image), "--json", "--max-tokens", "8",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reply"]
    missing = run("ask", "What is this?", "--image", str(tmp_path / "nope.png"))
    assert missing.returncode == 2 and "not found" in missing.stderr
