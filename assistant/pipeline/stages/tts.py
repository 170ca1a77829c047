"""TTS stage: clauses in, reply audio out at the sink's rate (resampled with soxr).

Piper begins every clause with 0-60 ms of near-silence. Before the first clause of a reply it
only delays the moment the user hears an answer, so it is cut down to ``LEAD_MS`` (under
``LEAD_DBFS``, far below speech); later clauses keep it, as the rhythm between them.

A voice that fails (a remote server down, too slow, cut off: an AssistantError such as
RemoteFailed) fails its turn's speech only: one ``StageFailed`` with the error's line, the
turn's later clauses are not asked for (each would wait for the same server), and the reply's
text and its end go on as usual, so the turn ends. The next turn asks again. A remote voice
(``local`` False) is not warmed up: that would be a call on its server. Its calls run on two
threads: a barge-in cannot stop a read waiting on a server that hangs, so that call is left to
its timeout on one thread while the next turn speaks on the other (a turn's clauses still go
one after the other, each awaited).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from assistant.concurrency import iterate_in_thread
from assistant.convert.resample import StreamResampler
from assistant.errors import AssistantError, one_line
from assistant.models.interfaces import Pcm16, TextToSpeech
from assistant.pipeline.events import EventBus, StageFailed, TtsAudio
from assistant.pipeline.frames import ClauseFrame, DataFrame, ReplyAudioFrame
from assistant.pipeline.priority import SpeechFirst
from assistant.pipeline.processor import ErrorHandler
from assistant.pipeline.stages.model_stage import ModelStage

WARM_UP_TEXT = "Hello."
LEAD_DBFS = -60.0  # quieter than this, the start of a reply is silence
LEAD_MS = 10  # silence kept before the first sound of a reply: no click at its onset
REMOTE_CALLS = 2  # a remote voice's calls at once: the turn's, and one left hanging
log = logging.getLogger(__name__)


class TtsStage(ModelStage):
    """Speaks each clause off the event loop, streaming audio out piece by piece."""

    def __init__(
        self,
        tts: TextToSpeech,
        output_rate: int,
        priority: SpeechFirst | None = None,
        voices: dict[str, TextToSpeech] | None = None,
        local: bool = True,
    ) -> None:
        """``tts`` speaks every clause, except those in a language ``voices`` has a voice for.

        ``local``: ``tts`` runs here; False for a remote server's.
        """
        super().__init__("tts")
        self.local = local
        if not local:  # a call hanging on its server is left behind, not queued behind
            self._executor = ThreadPoolExecutor(REMOTE_CALLS, "tts")
        self._failed = 0  # the last turn whose speech failed
        self.priority = priority or SpeechFirst()
        self.tts = tts
        self.voices = voices or {}
        self.output_rate = output_rate
        self._clauses = 0  # clauses of the current turn so far
        self._unvoiced: set[str] = set()  # languages already warned about

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; a first synthesis meanwhile gets a local runtime's set-up done."""
        await super().start(bus, on_error)
        if self.local:
            self._executor.submit(lambda: list(self.tts.synthesize(WARM_UP_TEXT)))

    async def process_frame(self, frame: DataFrame) -> None:
        """Synthesize clauses; forward everything else."""
        if isinstance(frame, ClauseFrame):
            if frame.turn_id == self._failed:
                return  # its text goes on unspoken
            try:
                await self._speak(frame)
            except AssistantError as exc:  # the voice failed: this turn's speech only
                self._failed = frame.turn_id
                message = one_line(exc)
                self.bus.publish(
                    StageFailed(turn_id=frame.turn_id, stage=self.name, message=message)
                )
        else:
            await self.push_frame(frame)

    async def _speak(self, frame: ClauseFrame) -> None:
        if frame.turn_id != self._work.turn:
            self._clauses = 0
        cancel = self._work.begin(frame.turn_id)
        self._clauses += 1
        index, first = self._clauses, True
        voice = self._voice(frame.language)
        speak = lambda: self._audio(voice, frame.text, cancel, index == 1)  # noqa: E731
        async for pcm in iterate_in_thread(speak, self._executor):
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

    def _voice(self, language: str) -> TextToSpeech:
        """The voice for a clause in ``language`` ("" = the default voice's)."""
        if not language or language == self.tts.language:
            return self.tts
        if language in self.voices:
            return self.voices[language]
        if language not in self._unvoiced:
            self._unvoiced.add(language)
            log.warning(
                "no voice for language %r (tts.voices); replies in it use the default voice",
                language,
            )
        return self.tts

    def _audio(
        self, voice: TextToSpeech, text: str, cancel: threading.Event, first: bool
    ) -> Iterator[Pcm16]:
        """Runs in the TTS thread: synthesize and resample one clause (``first`` of a reply)."""
        resampler = StreamResampler(voice.sample_rate, self.output_rate)
        speech = voice.synthesize(text)
        lead = first  # still cutting the reply's leading silence
        while not cancel.is_set():
            with self.priority.speaking():
                pcm = next(speech, None)
            if pcm is None:
                break
            if lead:
                pcm, lead = trim_lead(pcm, voice.sample_rate)
            out = resampler.process(pcm)
            if out.size:
                yield out
        tail = resampler.process(np.zeros(0, np.int16), last=True)
        if tail.size:
            yield tail


def trim_lead(pcm: Pcm16, rate: int) -> tuple[Pcm16, bool]:
    """``pcm`` from ``LEAD_MS`` before its first 10 ms over ``LEAD_DBFS``.

    Also whether all of it was silence: the next piece is then trimmed too.
    """
    window = rate // 100
    padded = np.pad(pcm, (0, -len(pcm) % window))
    frames = padded.reshape(-1, window).astype(np.float32)
    levels = 10 * np.log10(np.mean(frames**2, axis=1) / 32768.0**2 + 1e-12)
    loud = np.flatnonzero(levels > LEAD_DBFS)
    if not len(loud):
        return pcm[:0], True
    start = max(0, int(loud[0]) * window - rate * LEAD_MS // 1000)
    return pcm[start:], False
