"""STT stage: an utterance in, the user's words out (or nothing when it held no speech)."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from assistant.concurrency import model_executor
from assistant.models.interfaces import Pcm16, SpeechToText, Transcript
from assistant.pipeline import events
from assistant.pipeline.events import EventBus, NoSpeech, PartialTranscript
from assistant.pipeline.frames import (
    DataFrame,
    SpeculativeTranscriptFrame,
    SpeechPauseFrame,
    TranscriptFrame,
    UtteranceFrame,
)
from assistant.pipeline.processor import ErrorHandler, FrameProcessor
from assistant.pipeline.turn_taking import TurnBoard

_Pending = asyncio.Future[tuple[Transcript, float]]  # a transcription and its compute time (ms)


class SttStage(FrameProcessor):
    """Transcribes each utterance off the event loop; publishes ``transcript`` or ``no_speech``."""

    def __init__(self, stt: SpeechToText, board: TurnBoard | None = None) -> None:
        super().__init__("stt")
        self.stt = stt
        self.board = board  # told the transcripts of tentative turns
        self._executor = model_executor("stt")
        # (start, end) of the audio transcribed at the last pause, and that transcription
        self._speculation: tuple[tuple[float, float], _Pending] | None = None
        self._announcing: set[asyncio.Future[None]] = set()  # keeps the push tasks alive

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; a first transcription of silence meanwhile warms the model up."""
        await super().start(bus, on_error)
        self._executor.submit(self.stt.transcribe, np.zeros(self.stt.sample_rate, np.float32))

    async def process_frame(self, frame: DataFrame) -> None:
        """Transcribe utterances (speculatively at a pause); forward everything else."""
        if isinstance(frame, SpeechPauseFrame):
            pending = self._transcribe(frame.audio)
            self._speculation = ((frame.start, frame.end), pending)
            pending.add_done_callback(self._announce)
        elif isinstance(frame, UtteranceFrame):
            await self._utterance(frame)
        else:
            await self.push_frame(frame)

    def _transcribe(self, pcm: Pcm16) -> _Pending:
        """Start a transcription on the model thread; resolves to (transcript, compute ms)."""

        def timed() -> tuple[Transcript, float]:
            started = time.monotonic()
            result = self.stt.transcribe(pcm.astype(np.float32) / 32768.0)
            return result, (time.monotonic() - started) * 1000

        return asyncio.get_running_loop().run_in_executor(self._executor, timed)

    def _announce(self, pending: _Pending) -> None:
        """Pass a speculative transcript on, so the LLM can read it before the turn is final."""
        if pending.cancelled() or pending.exception() is not None or not pending.result()[0].text:
            return
        frame = SpeculativeTranscriptFrame(text=pending.result()[0].text)
        self.bus.publish(PartialTranscript(text=frame.text))
        task = asyncio.ensure_future(self.push_frame(frame))
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    async def _utterance(self, frame: UtteranceFrame) -> None:
        speculation, self._speculation = self._speculation, None
        reused = speculation is not None and speculation[0] == (frame.start, frame.end)
        # Speech that went on after the pause makes the speculation stale.
        pending = (
            speculation[1] if speculation is not None and reused else self._transcribe(frame.audio)
        )
        transcript, stt_ms = await pending
        if frame.tentative and self.board is not None:
            self.board.heard(frame.turn_id, transcript.text)
        if not transcript.text:
            self.bus.publish(NoSpeech(turn_id=frame.turn_id, stt_ms=stt_ms))
            return
        self.bus.publish(
            events.Transcript(
                turn_id=frame.turn_id,
                text=transcript.text,
                stt_ms=stt_ms,
                speculative=reused,
                language=transcript.language,
            )
        )
        await self.push_frame(
            TranscriptFrame(
                turn_id=frame.turn_id,
                text=transcript.text,
                speech_end_wall=frame.speech_end_wall,
                language=transcript.language,
            )
        )

    async def cleanup(self) -> None:
        """Let a running transcription finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)
