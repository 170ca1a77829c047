"""Sinks: where reply audio goes (a WAV file, memory, or nowhere) and where turns complete."""

from __future__ import annotations

import asyncio
import time

from assistant.audio.wav import AtomicWavWriter
from assistant.pipeline.events import Interrupted, ReplyAudio, TurnDone
from assistant.pipeline.frames import (
    DataFrame,
    EndFrame,
    HeardFrame,
    ReplyAudioFrame,
    ReplyEndFrame,
)
from assistant.pipeline.processor import FrameProcessor
from assistant.types import Pcm16


class AudioSink(FrameProcessor):
    """Consumes reply audio; publishes ``reply_audio`` and, at the end of a turn, ``turn_done``.

    Subclasses decide what happens to the samples by overriding ``write``. With ``paced`` a
    turn is done only when its audio would have finished playing in real time from its first
    piece, as for a listener (a recording answered at real-time pace): until then the user may
    still go on with the turn's sentence (turn merging), and it is reported once.
    """

    def __init__(self, name: str = "sink", paced: bool = False) -> None:
        super().__init__(name)
        self.paced = paced
        self._playing: dict[int, tuple[float, float]] = {}  # turn -> (first wall, seconds)
        self._done_later: dict[int, asyncio.TimerHandle] = {}  # paced turns still "playing"

    def _turn_done(self, turn: int) -> None:
        began, seconds = self._playing.pop(turn, (0.0, 0.0))
        left = began + seconds - time.monotonic()
        if not (self.paced and began and left > 0):
            self.bus.publish(TurnDone(turn_id=turn))
            return

        def done() -> None:
            self._done_later.pop(turn, None)
            self.bus.publish(TurnDone(turn_id=turn))

        self._done_later[turn] = asyncio.get_running_loop().call_later(left, done)

    async def on_interrupt(self, turn_id: int) -> None:
        """A cancelled turn is never done."""
        for turn in [t for t in self._playing if t <= turn_id]:
            del self._playing[turn]
        for turn in [t for t in self._done_later if t <= turn_id]:
            self._done_later.pop(turn).cancel()

    async def report_heard(self, turn_id: int, heard: str, silent_wall: float) -> None:
        """A barge-in cut turn ``turn_id`` after ``heard``: tell the context, then observers.

        The words go downstream as a frame (the conversation context keeps only them) before
        the ``interrupted`` event, so whoever hears of the cut finds the context already cut.
        """
        await self.push_frame(HeardFrame(turn_id=turn_id, heard=heard))
        self.bus.publish(Interrupted(turn_id=turn_id, heard=heard, silent_wall=silent_wall))

    async def on_retract(self, turn_id: int) -> None:
        """Nor is a withdrawn one; the turns before it still are."""
        self._playing.pop(turn_id, None)
        if (later := self._done_later.pop(turn_id, None)) is not None:
            later.cancel()

    async def process_frame(self, frame: DataFrame) -> None:
        """Deliver audio; close turns."""
        if isinstance(frame, ReplyAudioFrame):
            self.bus.publish(
                ReplyAudio(
                    turn_id=frame.turn_id, samples=len(frame.pcm), sample_rate=frame.sample_rate
                )
            )
            began, seconds = self._playing.get(frame.turn_id, (time.monotonic(), 0.0))
            self._playing[frame.turn_id] = (began, seconds + len(frame.pcm) / frame.sample_rate)
            await self.deliver(frame)
        elif isinstance(frame, ReplyEndFrame):
            await self.end_of_turn(frame.turn_id)
            self._turn_done(frame.turn_id)
        elif isinstance(frame, EndFrame):
            for turn in list(self._done_later):  # the input is over: nothing can follow
                self._done_later.pop(turn).cancel()
                self.bus.publish(TurnDone(turn_id=turn))
        await self.push_frame(frame)

    async def deliver(self, frame: ReplyAudioFrame) -> None:
        """Deliver one piece of reply audio (override to see the clause it speaks)."""
        await self.write(frame.pcm, frame.sample_rate)

    async def write(self, pcm: Pcm16, sample_rate: int) -> None:
        """Deliver samples (override)."""

    async def end_of_turn(self, turn_id: int) -> None:
        """Called once all audio of a turn was delivered (override, e.g. to wait for playback)."""


class WavSink(AudioSink):
    """Appends all reply audio to one WAV file, which appears only once the run succeeds."""

    def __init__(self, writer: AtomicWavWriter, paced: bool = False) -> None:
        super().__init__("wav-sink", paced)
        self.writer = writer

    async def write(self, pcm: Pcm16, sample_rate: int) -> None:
        """Append samples to the file."""
        self.writer.write(pcm)


class MemorySink(AudioSink):
    """Keeps reply audio in memory (tests, benchmarks, the library API)."""

    def __init__(self) -> None:
        super().__init__("memory-sink")
        self.chunks: list[Pcm16] = []

    async def write(self, pcm: Pcm16, sample_rate: int) -> None:
        """Keep the samples."""
        self.chunks.append(pcm)
