"""Camera frames through PyAV: v4l2 on Linux, avfoundation on macOS, dshow on Windows.

A video file or URL stands in for a camera (handy for tests and recorded scenes). The first
``warmup_s`` seconds of frames are skipped, because a camera that was just opened still adjusts
its exposure and white balance. Periodic capture yields a frame every ``every_s`` seconds of
stream time, which for a live camera is wall-clock time.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from assistant.errors import DeviceError

_FORMATS = {"linux": "v4l2", "darwin": "avfoundation", "win32": "dshow"}


class Camera:
    """An open camera (or a stand-in video); use as a context manager."""

    def __init__(self, device: str = "", warmup_s: float = 1.0) -> None:
        self.device = device or _default_device()
        self.warmup_s = warmup_s
        self._container = _open(self.device)
        if not self._container.streams.video:
            self._container.close()
            raise DeviceError(f"{self.device} has no video; pass --camera a camera or a video")
        self._frames = self._container.decode(self._container.streams.video[0])
        self._start: float | None = None
        self._decoded = 0  # frames so far, the clock of frames without a timestamp

    def __enter__(self) -> Camera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def snapshot(self) -> Image.Image:
        """One frame, taken after the warm-up."""
        return next(self.frames(every_s=0.0, count=1))

    def frames(self, every_s: float, count: int = 0) -> Iterator[Image.Image]:
        """Frames every ``every_s`` seconds after the warm-up; ``count`` 0 = until the end."""
        due: float | None = None
        taken = 0
        for frame in self._decode():
            now = self._seconds(frame)
            if now < self.warmup_s:
                continue
            if due is None or now >= due:
                yield frame.to_image()
                taken += 1
                if count and taken >= count:
                    return
                due = now + every_s
        if not taken:
            raise DeviceError(f"camera {self.device} gave no picture; check that it works")

    def _decode(self) -> Iterator[Any]:
        """Decoded frames; a camera unplugged or a damaged video is a DeviceError."""
        import av

        try:
            for frame in self._frames:
                self._decoded += 1
                yield frame
        except av.error.FFmpegError as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise DeviceError(
                f"camera {self.device} stopped giving pictures ({reason}); check it and retry"
            ) from None

    def _seconds(self, frame: Any) -> float:
        """Stream time since the first frame (frames without a timestamp count as 1/30 s)."""
        stamp = float(frame.time) if frame.time is not None else self._decoded / 30
        if self._start is None:
            self._start = stamp
        return stamp - self._start

    def close(self) -> None:
        """Release the device."""
        self._container.close()


def _default_device() -> str:
    if sys.platform == "win32":
        raise DeviceError('no camera named; pass --camera "video=NAME" (see ffmpeg -list_devices)')
    return "0" if sys.platform == "darwin" else "/dev/video0"


def _open(device: str) -> Any:
    import av

    is_file = Path(device).is_file() or "://" in device
    fmt = None if is_file else _FORMATS.get(sys.platform)
    options = {"framerate": "30"} if fmt == "v4l2" else {}
    if fmt == "v4l2" and not Path(device).exists():
        raise DeviceError(
            f"camera {device} not found; plug one in, or pass --camera with another device "
            "or a video file"
        )
    try:
        return av.open(device, format=fmt, options=options)
    except av.error.FFmpegError as exc:
        raise DeviceError(_reason(device, exc)) from None


def _reason(device: str, exc: Any) -> str:
    if getattr(exc, "errno", None) == errno.EBUSY:
        return f"camera {device} is busy (another program is using it); close that and retry"
    if getattr(exc, "errno", None) in (errno.ENOENT, errno.ENODEV):
        return f"camera {device} not found; check --camera (a device or a video file)"
    return f"camera {device} could not be opened ({exc.strerror or exc}); check --camera"
