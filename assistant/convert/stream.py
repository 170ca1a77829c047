"""Streaming conversion: compressed audio arriving in chunks -> PCM frames, as it arrives.

For the real-time paths (audio from a browser's MediaRecorder or a socket: WebM/Opus, Ogg,
MP3, ...). ``feed`` never blocks: the bytes go into a pipe that PyAV's demuxer reads on a
background thread, and whatever has been decoded so far comes back. ``close`` ends the stream
and returns the rest. A stream PyAV cannot decode makes ``close`` (and later ``feed`` calls)
raise InputError.
"""

from __future__ import annotations

import io
import queue
import threading

import av
import numpy as np

from assistant.convert.audio_decode import layout_for
from assistant.errors import InputError
from assistant.types import Pcm16

# Probe only a little input before decoding starts (FFmpeg's default waits for 5 MB).
_LOW_LATENCY = {"probesize": "8192"}


class _Pipe(io.RawIOBase):
    """A blocking, non-seekable byte pipe: one thread writes, PyAV reads."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._closed_for_writing = False
        self._ready = threading.Condition()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        with self._ready:
            while not self._data and not self._closed_for_writing:
                self._ready.wait()
            n = min(len(buffer), len(self._data))
            buffer[:n] = self._data[:n]
            del self._data[:n]
            return n

    def write_bytes(self, data: bytes) -> None:
        with self._ready:
            self._data += data
            self._ready.notify()

    def end(self) -> None:
        with self._ready:
            self._closed_for_writing = True
            self._ready.notify()


class StreamDecoder:
    """Chunk-in, chunk-out audio decoding to mono (or ``channels``) int16 at ``sample_rate``."""

    def __init__(
        self, sample_rate: int = 16000, channels: int = 1, container: str | None = None
    ) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self._pipe = _Pipe()
        self._out: queue.SimpleQueue[Pcm16] = queue.SimpleQueue()
        self._error: Exception | None = None
        self._thread = threading.Thread(
            target=self._run, args=(container,), daemon=True, name="stream-decoder"
        )
        self._thread.start()

    def feed(self, data: bytes) -> list[Pcm16]:
        """Add bytes; return the audio decoded so far (possibly none)."""
        self._raise_if_failed()
        self._pipe.write_bytes(data)
        return self._drain()

    def close(self, timeout: float = 10.0) -> list[Pcm16]:
        """End the stream; return the remaining audio."""
        self._pipe.end()
        self._thread.join(timeout)
        self._raise_if_failed()
        return self._drain()

    def _drain(self) -> list[Pcm16]:
        chunks = []
        while not self._out.empty():
            chunks.append(self._out.get_nowait())
        return chunks

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise InputError(f"the audio stream could not be decoded ({self._error})")

    def _run(self, container_format: str | None) -> None:
        try:
            with av.open(
                self._pipe,
                mode="r",
                format=container_format,
                options=_LOW_LATENCY,
                buffer_size=4096,
            ) as container:
                stream = container.streams.audio[0]
                resampler = av.AudioResampler("s16", layout_for(self.channels), self.sample_rate)
                for frame in container.decode(stream):
                    self._emit(resampler.resample(frame))
                self._emit(resampler.resample(None))
        except Exception as exc:  # reported to the caller by feed/close
            self._error = exc

    def _emit(self, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            self._out.put(frame.to_ndarray().reshape(-1).astype(np.int16, copy=False))
