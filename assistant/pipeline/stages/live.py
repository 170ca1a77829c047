"""Live audio: the microphone as a source and the speaker as a sink.

Both ends survive a device that goes away: the stream is reopened with backoff for up to
``retry_s`` seconds (an ``audio_status`` event says so), after which a DeviceError names the
device and the fix. Overflows and underflows are reported as ``audio_status`` events and
logged, never dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from assistant.audio.capture import Capture, CaptureStats, DeviceLost
from assistant.audio.devices import Device, Kind, pick_device
from assistant.audio.playback import Chunk, Player
from assistant.audio.ringbuffer import RingBuffer
from assistant.convert.resample import StreamResampler
from assistant.errors import DeviceError
from assistant.pipeline.events import EventBus
from assistant.pipeline.frames import AudioFrame, Frame, ReplyAudioFrame
from assistant.pipeline.pipeline import FrameSource
from assistant.pipeline.processor import ErrorHandler
from assistant.pipeline.stages.sink import AudioSink

log = logging.getLogger(__name__)
T = TypeVar("T")
FIRST_RETRY_S = 0.25
MAX_RETRY_S = 2.0
STALL_S = 1.0  # a stream silent for this long has lost its device
OPEN_S = 5.0  # an open that takes longer than this counts as failed


async def reopen(
    kind: Kind, spec: str, retry_s: float, opener: Callable[[Device], T], bus: EventBus
) -> T:
    """Open the device again, backing off, until ``retry_s`` has passed (then DeviceError)."""
    what = "microphone" if kind == "input" else "speaker"
    deadline, delay = time.monotonic() + retry_s, FIRST_RETRY_S
    last = ""
    while True:
        try:
            opened = await _in_daemon_thread(lambda: opener(pick_device(kind, spec)), OPEN_S)
            _status(bus, what, f"{what} is back", "warning")
            return opened
        except DeviceError as exc:
            last = str(exc)
        except TimeoutError:
            last = f"opening it did not finish within {OPEN_S:g} s"
        if time.monotonic() + delay > deadline:
            raise DeviceError(
                f"the {what} went away and did not come back within {retry_s:g} s ({last}); "
                f"reconnect it, or pick another with --{kind}-device (see `assistant devices`)"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_RETRY_S)


async def _in_daemon_thread(call: Callable[[], T], timeout: float) -> T:
    """Run ``call`` on a daemon thread: a sound server that never answers must not hang us."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            result = call()
        except BaseException as exc:  # handed over to the awaiting task
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    threading.Thread(target=run, daemon=True, name="device-open").start()
    return await asyncio.wait_for(asyncio.shield(future), timeout)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        if error is None and hasattr(result, "close"):
            result.close()  # opened after we gave up on it: release it again
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _status(bus: EventBus, device: str, message: str, level: str) -> None:
    getattr(log, level)("%s: %s", device, message)
    bus.publish("audio_status", 0, device=device, message=message, level=level)


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
        self.device: Device | None = None
        self.capture: Capture | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def open_capture(self, device: Device) -> Capture:
        """Open ``device`` for recording (callable from any thread once frames() runs)."""
        capture = Capture(device, self.block_ms, self.buffer_s)
        capture.open(self._loop)
        self.device, self.capture = device, capture
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
                    _status(self.bus, "microphone", f"{exc}; reopening", "warning")
                    capture = await reopen(
                        "input", self.spec, self.retry_s, self.open_capture, self.bus
                    )
        finally:
            capture.close()

    def _report(self, capture: Capture, reported: tuple[int, int]) -> tuple[int, int]:
        stats = capture.stats
        now = (stats.input_overflows, stats.ring_overflows)
        if now != reported:
            _status(
                self.bus,
                "microphone",
                f"audio lost: {stats.input_overflows} input overflows, "
                f"{stats.lost_samples} samples overwritten in the capture buffer",
                "warning",
            )
        return now


@dataclass
class ClauseAudio:
    """The audio of one clause of a reply, chunk by chunk as it was queued."""

    text: str
    chunks: list[Chunk] = field(default_factory=list)


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
        self._turns: dict[int, dict[int, ClauseAudio]] = {}
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
        chunk = Chunk(frame.pcm, frame.turn_id)
        clauses = self._turns.setdefault(frame.turn_id, {})
        clauses.setdefault(frame.clause_index, ClauseAudio(frame.clause)).chunks.append(chunk)
        self.player.play(chunk)

    async def end_of_turn(self, turn_id: int) -> None:
        """Wait until the turn has been played to the end."""
        while self.player.busy(turn_id):
            await asyncio.sleep(0.01)
            await self._watch()
        self._turns.pop(turn_id, None)

    async def _watch(self) -> None:
        stats = self.player.stats
        if stats.output_underflows != self._underflows:
            self._underflows = stats.output_underflows
            _status(self.bus, "speaker", f"{self._underflows} output underflows", "warning")
        if time.monotonic() - self.player.last_callback > STALL_S:
            self.player.close()
            _status(self.bus, "speaker", "the speaker stopped taking audio; reopening", "warning")
            await reopen("output", self.spec, self.retry_s, self._open_player, self.bus)

    async def on_interrupt(self, turn_id: int) -> None:
        """Barge-in: stop the turn's audio now and report what of it was heard."""
        silent_at = self.player.stop(turn_id)
        clauses = self._turns.pop(turn_id, {})
        self.bus.publish("interrupted", turn_id, heard=heard_text(clauses), silent_wall=silent_at)
        for turn in [t for t in self._turns if t < turn_id]:
            del self._turns[turn]

    async def cleanup(self) -> None:
        """Close the device."""
        self.player.close()


def heard_text(clauses: dict[int, ClauseAudio]) -> str:
    """The words played so far: whole clauses, then the share of the one cut off."""
    words: list[str] = []
    for index in sorted(clauses):
        clause = clauses[index]
        total = sum(len(c.pcm) for c in clause.chunks)
        played = sum(min(c.played, len(c.pcm)) for c in clause.chunks)
        clause_words = clause.text.split()
        if played >= total > 0:
            words += clause_words
            continue
        if total:
            words += clause_words[: int(len(clause_words) * played / total)]
        break
    return " ".join(words)
