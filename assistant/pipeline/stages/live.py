"""Live audio: the microphone as a source and the speaker as a sink (half duplex).

This is the simple front end: while the assistant speaks, the microphone is ignored so that
its own voice does not start a new turn. Capture copies blocks into a queue from the PortAudio
callback and never blocks; playback writes from a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from assistant.audio.devices import Device, sounddevice
from assistant.convert.resample import StreamResampler
from assistant.errors import DeviceError
from assistant.interfaces import Pcm16
from assistant.pipeline.frames import AudioFrame, Frame
from assistant.pipeline.pipeline import FrameSource
from assistant.pipeline.stages.sink import AudioSink
from assistant.pipeline.threads import call_in_thread, model_executor

BLOCK_MS = 20
ECHO_TAIL_S = 0.3  # the room keeps ringing a little after playback stops


class SpeakerSink(AudioSink):
    """Plays reply audio on an output device."""

    def __init__(self, device: Device, sample_rate: int) -> None:
        super().__init__("speaker")
        sd = sounddevice()
        try:
            self._stream = sd.OutputStream(
                device=device.index, samplerate=sample_rate, channels=1, dtype="int16"
            )
            self._stream.start()
        except sd.PortAudioError as exc:
            raise DeviceError(f"cannot open speaker {device.name!r} ({exc})") from None
        self._executor = model_executor("speaker")
        self.sample_rate = sample_rate
        self.busy_until = 0.0  # monotonic time when queued audio will have been played

    async def write(self, pcm: Pcm16, sample_rate: int) -> None:
        """Play samples (blocks a worker thread, not the loop)."""
        start = max(time.monotonic(), self.busy_until)
        self.busy_until = start + len(pcm) / sample_rate + ECHO_TAIL_S
        await call_in_thread(self._executor, self._stream.write, pcm.reshape(-1, 1))

    async def cleanup(self) -> None:
        """Close the device."""
        self._stream.abort()
        self._stream.close()
        self._executor.shutdown(wait=False, cancel_futures=True)


class MicSource(FrameSource):
    """Captures from an input device and yields 16 kHz frames; muted while ``speaker`` plays."""

    def __init__(self, device: Device, sample_rate: int, speaker: SpeakerSink | None) -> None:
        super().__init__("microphone")
        self.device, self.sample_rate, self.speaker = device, sample_rate, speaker

    async def frames(self) -> AsyncIterator[Frame]:
        """Yield captured audio until cancelled."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[Pcm16, float]] = asyncio.Queue()
        rate = self.device.default_rate

        def callback(data: Any, _frames: int, _time: Any, _status: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (data[:, 0].copy(), time.monotonic()))

        sd = sounddevice()
        try:
            stream = sd.InputStream(
                device=self.device.index,
                samplerate=rate,
                channels=1,
                dtype="int16",
                blocksize=rate * BLOCK_MS // 1000,
                callback=callback,
            )
        except sd.PortAudioError as exc:
            raise DeviceError(f"cannot open microphone {self.device.name!r} ({exc})") from None
        resampler = StreamResampler(rate, self.sample_rate)
        pts = 0.0
        with stream:
            while True:
                block, wall = await queue.get()
                if self.speaker is not None and wall < self.speaker.busy_until:
                    block = np.zeros_like(block)  # half duplex: do not hear ourselves
                pcm = resampler.process(block)
                yield AudioFrame(pcm=pcm, sample_rate=self.sample_rate, pts=pts, wall=wall)
                pts += len(pcm) / self.sample_rate
