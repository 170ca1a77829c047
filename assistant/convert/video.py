"""Still frames from a video (PyAV), taken at a chosen rate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
from PIL import Image

from assistant.errors import InputError


def has_video(path: Path) -> bool:
    """Whether PyAV finds a video stream in ``path`` (False for anything it cannot open)."""
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.video)
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError):
        return False


def video_frames(path: Path, fps: float) -> Iterator[Image.Image]:
    """Yield one RGB frame every ``1 / fps`` seconds of the first video stream."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            next_time = 0.0
            for frame in container.decode(stream):
                if frame.time is None or frame.time + 1e-6 >= next_time:
                    yield frame.to_image()
                    next_time += 1.0 / fps
    except (av.error.FFmpegError, IndexError) as exc:
        raise InputError(f"{path} is not a readable video ({exc})") from None
