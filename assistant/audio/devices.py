"""Audio devices through PortAudio (sounddevice), with a one-line error when there are none."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Literal

from assistant.errors import DeviceError
from assistant.stdio import quiet_native_stderr

Kind = Literal["input", "output"]
_WHAT = {"input": "microphone", "output": "speaker"}
_FIX = "talk through a file instead: assistant chat --input question.wav"


@dataclass(frozen=True)
class Device:
    """An audio device PortAudio can open."""

    index: int
    name: str
    hostapi: str
    channels: int
    default_rate: int  # Hertz


def sounddevice() -> Any:
    """The sounddevice module, or DeviceError when PortAudio itself is missing."""
    try:
        import sounddevice as sd
    except OSError as exc:
        raise DeviceError(
            f"the PortAudio library is missing ({exc}); install it (apt-get install libportaudio2) "
            f"or {_FIX}"
        ) from None
    return sd


def list_devices(kind: Kind) -> list[Device]:
    """Every device that can record (input) or play (output)."""
    sd = sounddevice()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot list audio devices ({exc}); {_FIX}") from None
    key = f"max_{kind}_channels"
    return [
        Device(i, d["name"], apis[d["hostapi"]]["name"], d[key], int(d["default_samplerate"]))
        for i, d in enumerate(devices)
        if d[key] > 0
    ]


def default_index(kind: Kind) -> int:
    """The index of the system's default device of that kind (-1 when there is none)."""
    return int(sounddevice().default.device[0 if kind == "input" else 1])


def pick_device(kind: Kind, spec: str = "") -> Device:
    """The device named by ``spec`` (an index or a name substring), else the system default."""
    devices = list_devices(kind)
    if not devices:
        raise DeviceError(f"no {_WHAT[kind]} found on this machine; {_FIX}")
    if spec.strip().isdigit():
        match = [d for d in devices if d.index == int(spec)]
    elif spec:
        match = [d for d in devices if spec.lower() in d.name.lower()]
    else:
        match = [d for d in devices if d.index == default_index(kind)] or devices[:1]
    if not match:
        names = "; ".join(f"{d.index}: {d.name}" for d in devices)
        raise DeviceError(f"no {_WHAT[kind]} matches {spec!r}; available: {names}")
    return match[0]


def open_stream(kind: Kind, device: Device, sample_rate: int, block: int, **callbacks: Any) -> Any:
    """Start a mono int16 low-latency stream on ``device`` (DeviceError if it cannot open)."""
    sd = sounddevice()
    factory = sd.InputStream if kind == "input" else sd.OutputStream
    stream = None
    try:
        with quiet_native_stderr():
            stream = factory(
                device=device.index,
                samplerate=sample_rate,
                channels=1,
                dtype="int16",
                blocksize=block,
                latency="low",
                **callbacks,
            )
            stream.start()
    except sd.PortAudioError as exc:
        close_stream(stream)
        raise DeviceError(f"cannot open {_WHAT[kind]} {device.name!r} ({exc})") from None
    return stream


def close_stream(stream: Any) -> None:
    """Stop and release a stream (a vanished device may fail to close cleanly; that is fine)."""
    if stream is not None:
        with contextlib.suppress(Exception):
            stream.abort()
            stream.close()
