"""``assistant describe``: what is in these pictures, or in front of the camera.

Every image is read and normalised before the model loads, so a bad file fails at once with
one line. Text output streams the answer as it comes; ``--json`` prints one object per image
(description, model, handler, image sizes, token counts, timings).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from assistant.cli.common import State
from assistant.errors import UserError
from assistant.llm.errors import ContextOverflowError
from assistant.models.interfaces import VisionModel
from assistant.models.loaders import load_vision
from assistant.vision.camera import Camera
from assistant.vision.images import ImageInput, PreparedImage, check_image

_CAMERA_DEFAULT = "\0default"


@click.command()
@click.argument("images", nargs=-1, type=click.Path(path_type=Path))
@click.option("--prompt", "-p", default=None, help="The question (default: vision.prompt).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per image.")
@click.option("--stream/--no-stream", default=True, help="Print the answer as it is written.")
@click.option(
    "--camera",
    is_flag=False,
    flag_value=_CAMERA_DEFAULT,
    default=None,
    metavar="[DEVICE]",
    help="Look through a camera: a device (/dev/video0), a name, or a video file.",
)
@click.option(
    "--every",
    type=click.FloatRange(min=0.1),
    default=None,
    help="With --camera: describe a frame every SECONDS.",
    metavar="SECONDS",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="With --every: stop after N frames (default: until Ctrl+C or the video ends).",
)
@click.option("--vision-model", default=None, help="A pulled preset or a GGUF path.")
@click.option("--mmproj", default=None, help="The model's projector (mmproj) GGUF.")
@click.pass_obj
def describe(
    state: State,
    /,
    images: tuple[Path, ...],
    prompt: str | None,
    as_json: bool,
    stream: bool,
    camera: str | None,
    every: float | None,
    count: int | None,
    vision_model: str | None,
    mmproj: str | None,
) -> int:
    """Describe IMAGE files (any format Pillow reads), or what a camera sees."""
    if bool(images) == (camera is not None):
        raise click.UsageError("give IMAGE files or --camera (one of the two)")
    if (every is not None or count is not None) and camera is None:
        raise click.UsageError("--every and --count need --camera")
    for path in images:
        check_image(path)  # before the model loads: a typo costs no waiting
    flags = {k: v for k, v in {"model": vision_model, "mmproj": mmproj}.items() if v}
    settings = state.settings({"vision": flags} if flags else None)
    s = settings.vision
    model = load_vision(settings)
    printer = _Printer(model, as_json, stream, several=len(images) > 1 or every is not None)
    if camera is not None:
        device = s.camera if camera == _CAMERA_DEFAULT else camera
        with Camera(device, s.camera_warmup_s) as cam:
            shots = cam.frames(every or 0.0, count or (0 if every else 1))
            sources: Iterator[tuple[str, ImageInput]] = (
                (f"{cam.device} frame {i}", shot) for i, shot in enumerate(shots, 1)
            )
            printer.run(sources, prompt or s.prompt, s.max_tokens, s.temperature)
    else:
        sources = ((str(path), path) for path in images)
        printer.run(sources, prompt or s.prompt, s.max_tokens, s.temperature)
    return printer.exit_code


class _Printer:
    """Answers each image and prints it as text or JSON; remembers whether any failed."""

    def __init__(self, model: VisionModel, as_json: bool, stream: bool, several: bool):
        self.model = model
        self.as_json = as_json
        self.stream = stream and not as_json
        self.several = several
        self.exit_code = 0

    def run(
        self,
        sources: Iterator[tuple[str, ImageInput]],
        prompt: str,
        max_tokens: int,
        temperature: float,
    ) -> None:
        """Describe every source in turn; a bad one is reported and skipped."""
        for label, source in sources:
            started = time.perf_counter()
            try:
                image = self.model.prepare(source)
                prepare_ms = (time.perf_counter() - started) * 1000
                self._answer(label, image, prompt, max_tokens, temperature, prepare_ms)
            except (UserError, ContextOverflowError) as exc:
                click.echo(f"error: {exc}", err=True)
                self.exit_code = 2

    def _answer(
        self,
        label: str,
        image: PreparedImage,
        prompt: str,
        max_tokens: int,
        temperature: float,
        prepare_ms: float,
    ) -> None:
        if self.several and not self.as_json:
            click.echo(f"== {label} ==")
        pieces = self.model.answer(image, prompt, max_tokens, temperature, threading.Event())
        text = []
        for piece in pieces:
            text.append(piece)
            if self.stream:
                click.echo(piece, nl=False)
        description = "".join(text).strip()
        if self.as_json:
            click.echo(json.dumps(self._record(label, image, description, prepare_ms)))
        elif self.stream:
            click.echo()
        else:
            click.echo(description)

    def _record(
        self, label: str, image: PreparedImage, description: str, prepare_ms: float
    ) -> dict[str, Any]:
        stats = self.model.stats
        return {
            "image": label,
            "description": description,
            "model": self.model.name,
            "handler": self.model.handler,
            "image_size": [image.width, image.height],
            "source_size": [image.source_width, image.source_height],
            "prompt_tokens": stats.prompt_tokens,
            "completion_tokens": stats.completion_tokens,
            "timings_ms": {"prepare": round(prepare_ms, 1), **stats.timings_ms},
        }
