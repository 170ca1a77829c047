"""The two ends of a voice session's pipeline on a WebSocket: audio in, reply audio out."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator

from fastapi import WebSocket

from assistant.pipeline.frames import AudioFrame, Frame, ReplyAudioFrame
from assistant.pipeline.heard import ReplyLedger
from assistant.pipeline.pipeline import FrameSource
from assistant.pipeline.stages.sink import AudioSink
from assistant.types import Pcm16

HEADER = struct.Struct("<II")  # turn id, sequence number of the audio message
RATE = 16000


class SocketSource(FrameSource):
    """Audio frames from the socket's binary messages (16 kHz mono PCM, after decoding).

    A live conversation consumes audio in real time, so a client may run at most
    ``max_lead_s`` ahead of the clock; ``pace`` holds the reader back beyond that, which stops
    reading the socket and so pushes back on the client through TCP, instead of queueing
    without bound (100x real time for a minute was 200 MB).
    """

    def __init__(self, max_lead_s: float = 10.0) -> None:
        super().__init__("socket-source")
        self._audio: asyncio.Queue[Pcm16 | None] = asyncio.Queue()
        self._pts = 0.0
        self.max_lead_s = max_lead_s
        self._received_s = 0.0
        self._began = 0.0  # monotonic time of the first audio

    def feed(self, pcm: Pcm16) -> None:
        """Queue samples that just arrived."""
        if pcm.size:
            self._began = self._began or time.monotonic()
            self._received_s += len(pcm) / RATE
            self._audio.put_nowait(pcm)

    async def pace(self) -> None:
        """Wait while the audio received is more than ``max_lead_s`` ahead of real time."""
        if self._began:
            lead = self._received_s - (time.monotonic() - self._began)
            if lead > self.max_lead_s:
                await asyncio.sleep(lead - self.max_lead_s)

    def end(self) -> None:
        """No more audio will come."""
        self._audio.put_nowait(None)

    async def frames(self) -> AsyncIterator[Frame]:
        """Yield the audio as it arrives."""
        while (pcm := await self._audio.get()) is not None:
            yield AudioFrame(pcm=pcm, sample_rate=RATE, pts=self._pts, wall=time.monotonic())
            self._pts += len(pcm) / RATE


class PlayedSink(AudioSink):
    """Reply audio for a remote client, taken to play it in real time from its first piece.

    What was played, and so heard, at a barge-in follows from that clock; subclasses say how
    a piece is sent (``send_audio``).
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.ledger = ReplyLedger()
        self._started: dict[int, float] = {}  # turn -> monotonic time its first audio went out
        self._rate = 0  # Hertz of the reply audio

    async def send_audio(self, frame: ReplyAudioFrame) -> None:
        """Send one piece of reply audio to the client."""
        raise NotImplementedError

    async def deliver(self, frame: ReplyAudioFrame) -> None:
        """Note when the turn's audio began, then send the piece."""
        self._started.setdefault(frame.turn_id, time.monotonic())
        self._rate = frame.sample_rate
        self.ledger.add(frame)
        await self.send_audio(frame)

    async def end_of_turn(self, turn_id: int) -> None:
        """Wait until the client has played the turn (so speech meanwhile is a barge-in)."""
        if turn_id in self._started and self._rate:
            sent_s = sum(len(c.pcm) for c in self.ledger.chunks(turn_id)) / self._rate
            await asyncio.sleep(max(0.0, self._started[turn_id] + sent_s - time.monotonic()))
        self._forget(turn_id)

    async def on_interrupt(self, turn_id: int) -> None:
        """The user spoke over the reply: tell the client to stop, report what was heard."""
        if turn_id in self._started and self._rate:
            played = int((time.monotonic() - self._started[turn_id]) * self._rate)
            for chunk in self.ledger.chunks(turn_id):
                chunk.played = min(len(chunk.pcm), max(0, played))
                played -= len(chunk.pcm)
        heard = self.ledger.heard(turn_id)
        self._forget(turn_id)
        await self.report_heard(turn_id, heard, time.monotonic())

    async def on_retract(self, turn_id: int) -> None:
        """A withdrawn turn: forget its audio (the ``merged`` event tells the client)."""
        self._forget(turn_id)

    def _forget(self, turn_id: int) -> None:
        self.ledger.forget(turn_id)
        for turn in [t for t in self._started if t <= turn_id]:
            del self._started[turn]


class SocketSink(PlayedSink):
    """Sends reply audio as binary messages: a header (turn id, sequence), then the PCM."""

    def __init__(self, socket: WebSocket, send_lock: asyncio.Lock) -> None:
        super().__init__("socket-sink")
        self.socket, self.send_lock = socket, send_lock
        self._sequence = 0

    async def send_audio(self, frame: ReplyAudioFrame) -> None:
        """Send one piece of reply audio with its header."""
        self._sequence += 1
        payload = HEADER.pack(frame.turn_id, self._sequence) + frame.pcm.astype("<i2").tobytes()
        async with self.send_lock:
            await self.socket.send_bytes(payload)
