"""Sinks: where reply audio goes (a WAV file, memory, or nowhere) and where turns complete."""

from __future__ import annotations

from assistant.audio.wav import AtomicWavWriter
from assistant.interfaces import Pcm16
from assistant.pipeline.frames import DataFrame, ReplyAudioFrame, ReplyEndFrame
from assistant.pipeline.processor import FrameProcessor


class AudioSink(FrameProcessor):
    """Consumes reply audio; publishes ``reply_audio`` and, at the end of a turn, ``turn_done``.

    Subclasses decide what happens to the samples by overriding ``write``.
    """

    def __init__(self, name: str = "sink") -> None:
        super().__init__(name)

    async def process_frame(self, frame: DataFrame) -> None:
        """Deliver audio; close turns."""
        if isinstance(frame, ReplyAudioFrame):
            self.bus.publish(
                "reply_audio", frame.turn_id, samples=len(frame.pcm), sample_rate=frame.sample_rate
            )
            await self.deliver(frame)
        elif isinstance(frame, ReplyEndFrame):
            await self.end_of_turn(frame.turn_id)
            self.bus.publish("turn_done", frame.turn_id)
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

    def __init__(self, writer: AtomicWavWriter) -> None:
        super().__init__("wav-sink")
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
