"""Microphone capture: a PortAudio callback that only copies into a ring buffer.

The callback never blocks, never allocates a growing structure and never calls a model: it
copies the block into the preallocated ring, notes the time, counts PortAudio overflows and
wakes the event loop through a non-blocking pipe. The consumer awaits the pipe and takes
whatever has accumulated. A device that stops delivering audio is reported as ``DeviceLost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

from assistant.audio.devices import (
    Device,
    close_stream,
    open_stream,
    sounddevice,
)
from assistant.audio.ringbuffer import RingBuffer
from assistant.errors import DeviceError
from assistant.stdio import quiet_native_stderr
from assistant.types import Pcm16

_WAKE = b"\0"


class DeviceLost(Exception):
    """The device stopped delivering or taking audio (unplugged, server gone)."""


@dataclass
class CaptureStats:
    """What went wrong so far: PortAudio overflows and samples the ring had to overwrite."""

    input_overflows: int = 0
    ring_overflows: int = 0
    lost_samples: int = 0


def _supported_rate(device: Device, wanted: int) -> int:
    """``wanted`` when the device records at that rate (no resampling at all), else its own."""
    sd = sounddevice()
    try:
        with quiet_native_stderr():
            sd.check_input_settings(
                device=device.index, samplerate=wanted, channels=1, dtype="int16"
            )
    except Exception:  # PortAudio says no in several ways; any of them means "use the default"
        return device.default_rate
    return wanted


class Waker:
    """Wakes an event loop from any thread without blocking: one byte into a pipe."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self.event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Set ``event`` on ``loop`` whenever ``wake`` is called (callable from any thread)."""
        self._loop = loop
        _on_loop(loop, loop.add_reader, self._r, self._on_readable)

    def wake(self) -> None:
        """Callable from a real-time thread: a full pipe already means "wake up"."""
        with contextlib.suppress(OSError):  # full (already awake) or closed (shutting down)
            os.write(self._w, _WAKE)

    def _on_readable(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._r, 4096):
                pass
        self.event.set()

    def close(self) -> None:
        """Detach from the loop and close the pipe (once)."""
        if self._r < 0:
            return
        r, w, self._r, self._w = self._r, self._w, -1, -1
        if self._loop is not None and not self._loop.is_closed():
            _on_loop(self._loop, _unwatch, self._loop, r, w)
        else:
            _unwatch(None, r, w)


def _on_loop(loop: asyncio.AbstractEventLoop, call: Any, *args: Any) -> None:
    """Run ``call`` on ``loop``: now if this is its thread, else as soon as it can."""
    try:
        here = asyncio.get_running_loop() is loop
    except RuntimeError:
        here = False
    if here:
        call(*args)
    else:
        loop.call_soon_threadsafe(call, *args)


def _unwatch(loop: asyncio.AbstractEventLoop | None, r: int, w: int) -> None:
    if loop is not None:
        loop.remove_reader(r)
    os.close(r)
    os.close(w)


class Capture:
    """Records one input device (mono int16 at its own rate) into a ring buffer."""

    def __init__(
        self, device: Device, block_ms: int = 20, buffer_s: float = 2.0, rate: int = 16000
    ) -> None:
        self.device = device
        self.sample_rate = _supported_rate(device, rate)
        self.block = self.sample_rate * block_ms // 1000
        self.ring = RingBuffer(int(self.sample_rate * buffer_s))
        self.stats = CaptureStats()
        self.latency = 0.0  # seconds from the microphone to the callback, as PortAudio reports
        self._last_block = 0.0  # monotonic time of the last callback
        self._last_block_device = 0.0  # PortAudio time the last sample of it was captured
        self._waker = Waker()
        self._stream: Any = None
        self._finished = False

    def open(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start recording (DeviceError when the device cannot be opened).

        ``loop`` is the event loop readers wait on (default: the running one).
        """
        self._waker.attach(loop or asyncio.get_running_loop())
        try:
            self._stream = open_stream(
                "input",
                self.device,
                self.sample_rate,
                self.block,
                callback=self._callback,
                finished_callback=self._on_finished,
            )
        except DeviceError:
            self.close()
            raise
        self.latency = float(self._stream.latency)
        self._last_block = time.monotonic()

    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        # Real-time thread: copy, stamp, wake. Nothing here may wait.
        if status.input_overflow:
            self.stats.input_overflows += 1
        self.ring.write(indata[:, 0])
        self._last_block = time.monotonic()
        self._last_block_device = time_info.inputBufferAdcTime + frames / self.sample_rate
        self._waker.wake()

    def _on_finished(self) -> None:
        self._finished = True
        self._waker.wake()

    async def read(self, timeout: float = 1.0) -> tuple[Pcm16, float, float]:
        """The samples captured since the last read and the time of the newest one.

        The time is given twice: on the monotonic clock and on PortAudio's clock (which the
        speaker's timestamps use too).

        Raises DeviceLost when no audio arrived for ``timeout`` seconds or the stream ended.
        """
        while self.ring.available == 0:
            if self._finished:
                raise DeviceLost(f"microphone {self.device.name!r} stopped")
            self._waker.event.clear()
            try:
                async with asyncio.timeout(timeout):  # no extra task, unlike wait_for
                    await self._waker.event.wait()
            except TimeoutError:
                raise DeviceLost(
                    f"microphone {self.device.name!r} delivered no audio for {timeout:g} s"
                ) from None
        wall, device_time = self._last_block - self.latency, self._last_block_device
        pcm = self.ring.read()
        self.stats.ring_overflows = self.ring.overflows
        self.stats.lost_samples = self.ring.lost_samples
        return pcm, wall, device_time

    def close(self) -> None:
        """Stop recording and release the device (safe to call twice)."""
        stream, self._stream = self._stream, None
        close_stream(stream)
        self._waker.close()
