"""TTS stage: clauses in, reply audio out at the sink's rate (resampled with soxr)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from assistant.concurrency import iterate_in_thread
from assistant.convert.resample import StreamResampler
from assistant.models.interfaces import Pcm16, TextToSpeech
from assistant.pipeline.events import EventBus, TtsAudio
from assistant.pipeline.frames import ClauseFrame, DataFrame, ReplyAudioFrame
from assistant.pipeline.priority import SpeechFirst
from assistant.pipeline.processor import ErrorHandler
from assistant.pipeline.stages.model_stage import ModelStage

WARM_UP_TEXT = "Hello."


class TtsStage(ModelStage):
    """Speaks each clause off the event loop, streaming audio out piece by piece."""

    def __init__(
        self, tts: TextToSpeech, output_rate: int, priority: SpeechFirst | None = None
    ) -> None:
        super().__init__("tts")
        self.priority = priority or SpeechFirst()
        self.tts = tts
        self.output_rate = output_rate
        self._clauses = 0  # clauses of the current turn so far

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; a first synthesis meanwhile gets the runtime's one-off set-up done."""
        await super().start(bus, on_error)
        self._executor.submit(lambda: list(self.tts.synthesize(WARM_UP_TEXT)))

    async def process_frame(self, frame: DataFrame) -> None:
        """Synthesize clauses; forward everything else."""
        if isinstance(frame, ClauseFrame):
            await self._speak(frame)
        else:
            await self.push_frame(frame)

    async def _speak(self, frame: ClauseFrame) -> None:
        if frame.turn_id != self._work.turn:
            self._clauses = 0
        cancel = self._work.begin(frame.turn_id)
        self._clauses += 1
        index, first = self._clauses, True
        async for pcm in iterate_in_thread(lambda: self._audio(frame.text, cancel), self._executor):
            if first:
                self.bus.publish(
                    TtsAudio(turn_id=frame.turn_id, samples=len(pcm), sample_rate=self.output_rate)
                )
                first = False
            await self.push_frame(
                ReplyAudioFrame(
                    turn_id=frame.turn_id,
                    pcm=pcm,
                    sample_rate=self.output_rate,
                    clause=frame.text,
                    clause_index=index,
                )
            )

    def _audio(self, text: str, cancel: threading.Event) -> Iterator[Pcm16]:
        """Runs in the TTS thread: synthesize and resample one clause."""
        resampler = StreamResampler(self.tts.sample_rate, self.output_rate)
        speech = self.tts.synthesize(text)
        while not cancel.is_set():
            with self.priority.speaking():
                pcm = next(speech, None)
            if pcm is None:
                break
            out = resampler.process(pcm)
            if out.size:
                yield out
        tail = resampler.process(np.zeros(0, np.int16), last=True)
        if tail.size:
            yield tail
