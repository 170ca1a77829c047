"""Vision benchmark: image preparation and describe latency, each against the bare library.

Run with ``make bench-vision``. It measures:
- preparation time per megapixel of ``prepare_image`` (orientation, flatten, shrink to 1024 px,
  PNG) against the same steps written directly with Pillow, on generated JPEG photos;
- describe latency on the tiny generated model pair (mechanics only: image encode + prompt +
  32 tokens) against llama-cpp-python's Llava15ChatHandler called directly;
- the same with the configured real vision model (``vision.model``) when there is one;
  otherwise that row says it was skipped.
Prints a table and JSON (also bench/results/vision.json).
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant import config
from assistant.errors import ModelError
from assistant.models.llava import LlamaVisionModel
from assistant.models.loaders import load_vision
from assistant.vision.images import prepare_image
from tests.tiny_vlm import make_tiny_vlm

SIZES = ((1200, 800), (2400, 1600), (4000, 3000), (6000, 4000))  # 1, 4, 12, 24 MP
MAX_SIDE = 1024
ROUNDS = 5
TOKENS = 32


def photo(path: Path, size: tuple[int, int]) -> Path:
    image = Image.new("RGB", size, (40, 90, 200))
    draw = ImageDraw.Draw(image)
    for i in range(0, size[0], 97):
        draw.line((i, 0, size[0] - i, size[1]), fill=(i % 255, 120, 60), width=9)
    exif = image.getexif()
    exif[0x0112] = 6  # stored sideways, as phones do
    image.save(path, quality=90, exif=exif.tobytes())
    return path


def bare_prepare(path: Path) -> bytes:
    """The same steps with Pillow alone."""
    opened = Image.open(path)
    opened.load()
    image = ImageOps.exif_transpose(opened) or opened
    image = image.convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def best_ms(func: Callable[[], object]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        func()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def preparation(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for size in SIZES:
        path = photo(folder / f"{size[0]}x{size[1]}.jpg", size)
        megapixels = size[0] * size[1] / 1e6
        ours = best_ms(lambda p=path: prepare_image(p, MAX_SIDE))  # type: ignore[misc]
        bare = best_ms(lambda p=path: bare_prepare(p))  # type: ignore[misc]
        rows.append(
            {
                "megapixels": round(megapixels, 1),
                "ours_ms_per_mp": round(ours / megapixels, 2),
                "bare_ms_per_mp": round(bare / megapixels, 2),
                "ratio": round(ours / bare, 2),
            }
        )
    return rows


def describe_ours(model: LlamaVisionModel, image: Path) -> tuple[float, float]:
    prepared = model.prepare(image)
    started = time.perf_counter()
    first = None
    for _ in model.answer(prepared, "Describe this image.", TOKENS, 0.0, threading.Event()):
        first = first or time.perf_counter()
    ended = time.perf_counter()
    return ((first or ended) - started) * 1000, (ended - started) * 1000


def describe_bare(model_path: Path, mmproj: Path, image: Path) -> tuple[float, float]:
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Llava15ChatHandler

    handler = Llava15ChatHandler(clip_model_path=str(mmproj), verbose=False)
    llama = Llama(model_path=str(model_path), chat_handler=handler, n_ctx=4096, verbose=False)
    uri = prepare_image(image, MAX_SIDE).data_uri()
    results = []
    for _ in range(ROUNDS):
        llama.reset()
        started = time.perf_counter()
        first = None
        messages: Any = [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": uri}},
                    {"type": "text", "text": "Describe this image."},
                ],
            }
        ]
        stream: Any = llama.create_chat_completion(
            messages=messages, max_tokens=TOKENS, temperature=0.0, stream=True
        )
        for _chunk in stream:
            first = first or time.perf_counter()
        ended = time.perf_counter()
        results.append((((first or ended) - started) * 1000, (ended - started) * 1000))
    llama.close()
    return min(r[0] for r in results), min(r[1] for r in results)


def describe_rows(folder: Path, image: Path) -> list[dict[str, Any]]:
    model_path, mmproj = make_tiny_vlm(folder)
    ours_model = LlamaVisionModel.load(model_path, mmproj)
    ours = [describe_ours(ours_model, image) for _ in range(ROUNDS)]
    ours_model.close()
    bare = describe_bare(model_path, mmproj, image)
    first, total = min(o[0] for o in ours), min(o[1] for o in ours)
    rows = [
        {
            "model": "generated tiny llava (mechanics only)",
            "first_token_ms": round(first, 1),
            "total_ms": round(total, 1),
            "bare_total_ms": round(bare[1], 1),
            "ratio": round(total / bare[1], 2),
        }
    ]
    try:
        real = load_vision(config.load())
    except ModelError as exc:
        rows.append({"model": "configured real VLM", "skipped": str(exc)})
        return rows
    timings = [describe_ours(real, image) for _ in range(3)]
    rows.append(
        {
            "model": real.name,
            "first_token_ms": round(statistics.median(t[0] for t in timings), 1),
            "total_ms": round(statistics.median(t[1] for t in timings), 1),
        }
    )
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prep = preparation(folder)
        image = photo(folder / "scene.jpg", (1600, 1200))
        describe = describe_rows(folder, image)
    print(f"{'megapixels':>10} {'ours ms/MP':>11} {'Pillow ms/MP':>13} {'ratio':>6}")
    for r in prep:
        print(
            f"{r['megapixels']:>10} {r['ours_ms_per_mp']:>11} {r['bare_ms_per_mp']:>13} "
            f"{r['ratio']:>6}"
        )
    for r in describe:
        if "skipped" in r:
            print(f"{r['model']}: skipped ({r['skipped']})")
        else:
            extra = f", bare {r['bare_total_ms']} ms, ratio {r['ratio']}" if "ratio" in r else ""
            print(
                f"{r['model']}: first token {r['first_token_ms']} ms, "
                f"{TOKENS} tokens {r['total_ms']} ms{extra}"
            )
    result = {"preparation": prep, "describe": describe}
    out = Path(__file__).with_name("results") / "vision.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
