"""Live audio: the microphone as a source and the speaker as a sink.

Both ends survive a device that goes away: the stream is reopened with backoff for up to
``retry_s`` seconds (an ``audio_status`` event says so), after which a DeviceError names the
device and the fix. Overflows and underflows are reported as ``audio_status`` events and
logged, never dropped silently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from assistant.audio.capture import Capture, CaptureStats, DeviceLost
from assistant.audio.devices import Device, pick_device
from assistant.audio.playback import Player
from assistant.audio.ringbuffer import RingBuffer
from assistant.config import AudioSettings
from assistant.convert.resample import StreamResampler
from assistant.pipeline.events import EventBus
from assistant.pipeline.frames import AudioFrame, Frame, ReplyAudioFrame
from assistant.pipeline.heard import ReplyLedger
from assistant.pipeline.pipeline import FrameSource
from assistant.pipeline.processor import ErrorHandler
from assistant.pipeline.stages.reconnect import reopen, report
from assistant.pipeline.stages.sink import AudioSink

STALL_S = 1.0  # a stream silent for this long has lost its device


class MicSource(FrameSource):
    """Captures from an input device and yields 16 kHz frames."""

    def __init__(
        self,
        spec: str,
        sample_rate: int,
        block_ms: int = 20,
        buffer_s: float = 2.0,
        retry_s: float = 10.0,
    ) -> None:
        super().__init__("microphone")
        self.spec, self.sample_rate, self.retry_s = spec, sample_rate, retry_s
        self.block_ms, self.buffer_s = block_ms, buffer_s
        self.capture: Capture | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def open_capture(self, device: Device) -> Capture:
        """Open ``device`` for recording (callable from any thread once frames() runs)."""
        capture = Capture(device, self.block_ms, self.buffer_s)
        capture.open(self._loop)
        self.capture = capture
        return capture

    @property
    def stats(self) -> CaptureStats:
        """Overflows and lost samples of the current capture stream."""
        return self.capture.stats if self.capture is not None else CaptureStats()

    async def frames(self) -> AsyncIterator[Frame]:
        """Yield captured audio until cancelled, reopening a device that goes away."""
        self._loop = asyncio.get_running_loop()
        capture = self.open_capture(pick_device("input", self.spec))
        pts, reported = 0.0, (0, 0)
        try:
            while True:
                resampler = StreamResampler(capture.sample_rate, self.sample_rate)
                try:
                    while True:
                        block, wall, device_time = await capture.read(STALL_S)
                        reported = self._report(capture, reported)
                        pcm = resampler.process(block)
                        yield AudioFrame(
                            pcm=pcm,
                            sample_rate=self.sample_rate,
                            pts=pts,
                            wall=wall,
                            device_time=device_time,
                        )
                        pts += len(pcm) / self.sample_rate
                except DeviceLost as exc:
                    capture.close()
                    report(self.bus, "microphone", f"{exc}; reopening")
                    capture = await reopen(
                        "input", self.spec, self.retry_s, self.open_capture, self.bus
                    )
        finally:
            capture.close()

    def _report(self, capture: Capture, reported: tuple[int, int]) -> tuple[int, int]:
        stats = capture.stats
        now = (stats.input_overflows, stats.ring_overflows)
        if now != reported:
            report(
                self.bus,
                "microphone",
                f"audio lost: {stats.input_overflows} input overflows, "
                f"{stats.lost_samples} samples overwritten in the capture buffer",
            )
        return now


class SpeakerSink(AudioSink):
    """Plays reply audio; on barge-in stops it and reports which words were heard."""

    def __init__(
        self,
        spec: str,
        sample_rate: int,
        block_ms: int = 20,
        retry_s: float = 10.0,
        echo_reference: bool = True,
    ) -> None:
        super().__init__("speaker")
        self.spec, self.sample_rate, self.block_ms, self.retry_s = (
            spec,
            sample_rate,
            block_ms,
            retry_s,
        )
        self.reference = RingBuffer(sample_rate * 2) if echo_reference else None
        self.player = Player(pick_device("output", spec), sample_rate, block_ms, self.reference)
        self.ledger = ReplyLedger()
        self._underflows = 0

    def _open_player(self, device: Device) -> Player:
        self.player.device = device
        self.player.open()
        return self.player

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Open the device and start serving."""
        self.player.open()
        await super().start(bus, on_error)

    async def deliver(self, frame: ReplyAudioFrame) -> None:
        """Queue the audio for playback; it starts at once."""
        self.player.play(self.ledger.add(frame))

    async def end_of_turn(self, turn_id: int) -> None:
        """Wait until the turn has been played to the end."""
        while self.player.busy(turn_id):
            await asyncio.sleep(0.01)
            await self._watch()
        self.ledger.forget(turn_id)

    async def _watch(self) -> None:
        stats = self.player.stats
        if stats.output_underflows != self._underflows:
            self._underflows = stats.output_underflows
            report(self.bus, "speaker", f"{self._underflows} output underflows")
        if time.monotonic() - self.player.last_callback > STALL_S:
            self.player.close()
            report(self.bus, "speaker", "the speaker stopped taking audio; reopening")
            await reopen("output", self.spec, self.retry_s, self._open_player, self.bus)

    async def on_interrupt(self, turn_id: int) -> None:
        """Barge-in: stop the turn's audio now and report what of it was heard."""
        silent_at = self.player.stop(turn_id)
        heard = self.ledger.heard(turn_id)
        self.ledger.forget(turn_id)
        await self.report_heard(turn_id, heard, silent_at)

    async def on_retract(self, turn_id: int) -> None:
        """A withdrawn turn: stop its audio without reporting an interruption."""
        self.player.stop(turn_id)
        self.ledger.forget(turn_id)

    async def cleanup(self) -> None:
        """Close the device."""
        self.player.close()


def local_devices(audio: AudioSettings, rate: int = 16000) -> tuple[Device, MicSource, SpeakerSink]:
    """The microphone (its device, picked now) and speaker of the ``[audio]`` settings.

    A missing microphone is a DeviceError here, before anything slow (loading models) starts;
    the microphone stream itself opens when the pipeline runs.
    """
    mic_device = pick_device("input", audio.input_device)
    speaker = SpeakerSink(
        audio.output_device,
        audio.output_sample_rate,
        audio.block_ms,
        audio.device_retry_s,
        echo_reference=audio.barge_in and audio.echo_cancellation,
    )
    mic = MicSource(audio.input_device, rate, audio.block_ms, audio.buffer_s, audio.device_retry_s)
    return mic_device, mic, speaker
