"""STT stage: an utterance in, the user's words out (or nothing when it held no speech).

With ``stream`` it also recognises the user while they speak: each ``SpeechProgressFrame``
starts a pass on the utterance so far (stages/stream_stt.py) when the model thread is free,
and is dropped otherwise (``skipped``), as the next one carries newer audio anyway; a pass
that heard something new publishes a ``PartialTranscript``, and one that confirmed more words
sends them on as an open ``SpeculativeTranscriptFrame``. The transcript at the pause is then
the confirmed words and a decode of the rest (``stream = "tail"``) or a decode of the whole
utterance (``"full"``, as without streaming).

Off by default (``stt.stream_ms = 0``), as measured by bench/stream_stt.py on the tuning part
of the human-speech dev set (clean, telephone, noisy and Piper turns at real-time pace, one
STT thread, a 2-core machine shared with other work): passes every 300 ms kept up (10 %
skipped; 400 ms 2-18 %, 600 ms none) for 0.17-0.26 CPU seconds more per second of speech. A
"tail" final was 1.7-2.6 WER points worse than the whole decode: it cannot mend a word the
passes agreed on (the first "And" of a sentence heard short), and in noise it kept words the
whole decode rejects as no speech. A "full" final is the same text as without streaming, but
a pass still running at the pause delays it (STT time after the pause, p95, 766 -> 884 ms).
So streaming buys words shown while the user speaks, at that price: ``stt.stream_ms = 300``.

A model that fails (a remote server down, too slow, answering garbage: an AssistantError such
as RemoteFailed) fails its turn only: one ``StageFailed`` with the error's line, then
``NoSpeech`` so the turn ends as one without words (no reply), and the stage goes on with the
next utterance. A remote model (``local`` False) is not warmed up, which would be a call on
its server; without streaming its calls run side by side, up to ``REMOTE_CALLS``: a pause's
speculative transcription made stale by speech that went on is abandoned (its answer is
dropped when it comes) instead of holding up the utterance's own call behind it. So a spoken
turn costs one call per pause of ``vad.speculate_ms`` or more in it (each pause's speculative
transcription; the utterance, tentative or not, reuses the last one, as its audio is the same),
and the call's retries when it fails; with ``stt.stream_ms`` also one per pass while the user
speaks (the model's ``calls`` counts them all, and `/metrics` shows the sum).
"""

from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from assistant.concurrency import model_executor
from assistant.errors import AssistantError, one_line
from assistant.models.interfaces import Float32, Pcm16, SpeechToText, Transcript
from assistant.pipeline import events
from assistant.pipeline.events import EventBus, NoSpeech, PartialTranscript, StageFailed
from assistant.pipeline.frames import (
    DataFrame,
    Frame,
    SpeculativeTranscriptFrame,
    SpeechPauseFrame,
    SpeechProgressFrame,
    TranscriptFrame,
    UtteranceFrame,
)
from assistant.pipeline.processor import ErrorHandler, FrameProcessor
from assistant.pipeline.stages.stream_stt import Hypothesis, StreamingRecognizer
from assistant.pipeline.turn_taking import TurnBoard

# Calls on a remote recognizer at once: the utterance's, and stale speculations still waiting
# for their answer (each ends within the role's timeout).
REMOTE_CALLS = 3


@dataclass(frozen=True)
class _Heard:
    """A transcription of an utterance, its compute time and what streaming made of it."""

    transcript: Transcript
    stt_ms: float
    hypothesis: Hypothesis | None = None  # with streaming: the confirmed words after it
    streamed: bool = False  # only the words after the confirmed ones were decoded


_Pending = asyncio.Future[_Heard]


def _partial(text: str, heard: Hypothesis | None, start: float) -> PartialTranscript:
    """A partial transcript of ``text``, with the words streaming confirmed of it."""
    if heard is None:
        return PartialTranscript(text=text, start=start)
    return PartialTranscript(text=text, stable=heard.stable, start=start, restarted=heard.restarted)


def _executor(local: bool, streams: bool) -> ThreadPoolExecutor:
    """The model's thread; a remote model's calls side by side (see the module's notes).

    The streaming recognizer's state is the model thread's alone: one thread with it.
    """
    if local or streams:
        return model_executor("stt")
    return ThreadPoolExecutor(REMOTE_CALLS, "stt")


def _timed(
    stt: SpeechToText,
    recognizer: StreamingRecognizer | None,
    tail: bool,
    audio: Float32,
    start: float,
) -> _Heard:
    """A transcription and its compute time (with streaming: the recognizer's final)."""
    started = time.monotonic()
    if recognizer is None:
        result = stt.transcribe(audio)
        return _Heard(result, (time.monotonic() - started) * 1000)
    final = recognizer.finish(audio, start, tail)
    ms = (time.monotonic() - started) * 1000
    return _Heard(final.transcript, ms, final.hypothesis, final.streamed)


def _fail_turn(stage: SttStage, frame: UtteranceFrame, exc: AssistantError) -> None:
    """The turn's one error, then its end as a turn without words."""
    if frame.tentative and stage.board is not None:
        stage.board.heard(frame.turn_id, "")  # nothing to wait for: the turn may end
    turn = frame.turn_id
    stage.bus.publish(StageFailed(turn_id=turn, stage=stage.name, message=one_line(exc)))
    stage.bus.publish(NoSpeech(turn_id=turn))


class SttStage(FrameProcessor):
    """Transcribes each utterance off the event loop; publishes ``transcript`` or ``no_speech``."""

    def __init__(
        self,
        stt: SpeechToText,
        board: TurnBoard | None = None,
        stream: Literal["tail", "full"] | None = None,
        local: bool = True,
    ) -> None:
        """``stream``: recognition while the user speaks, and how the final is made; None: off.

        ``local``: the model runs here; False for a remote server's (see the module's notes).
        """
        super().__init__("stt")
        self.stt = stt
        self.board = board  # told the transcripts of tentative turns
        self.local = local
        self._executor = _executor(local, stream is not None)
        self._latest: _Pending | None = None  # the newest speculation, the only one announced
        # (start, end) of the audio transcribed at the last pause, and that transcription
        self._speculation: tuple[tuple[float, float], _Pending] | None = None
        self._announcing: set[asyncio.Future[None]] = set()  # keeps the push tasks alive
        self.recognizer = StreamingRecognizer(stt) if stream is not None else None
        self._tail = stream == "tail" and stt.continues
        self._busy: asyncio.Future[Any] | None = None  # the last job given to the model
        self.passes = 0  # passes run while the user spoke
        self.skipped = 0  # progress frames dropped because the model was busy

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; a first transcription of silence meanwhile warms a local model up."""
        await super().start(bus, on_error)
        if self.local:
            self._executor.submit(self.stt.transcribe, np.zeros(self.stt.sample_rate, np.float32))

    async def process_frame(self, frame: DataFrame) -> None:
        """Transcribe utterances (speculatively at a pause); forward everything else."""
        if isinstance(frame, SpeechProgressFrame):
            self._progress(frame)
        elif isinstance(frame, SpeechPauseFrame):
            pending = self._transcribe(frame.audio, frame.start)
            self._speculation, self._latest = ((frame.start, frame.end), pending), pending
            pending.add_done_callback(functools.partial(self._announce, frame.start))
        elif isinstance(frame, UtteranceFrame):
            await self._utterance(frame)
        else:
            await self.push_frame(frame)

    def _progress(self, frame: SpeechProgressFrame) -> None:
        """A pass on the utterance so far, unless the model is busy (then none: no queue)."""
        if self.recognizer is None:
            return
        if self._busy is not None and not self._busy.done():
            self.skipped += 1
            return
        self.passes += 1
        audio = frame.audio.astype(np.float32) / 32768.0
        loop = asyncio.get_running_loop()
        step = loop.run_in_executor(self._executor, self.recognizer.step, audio, frame.start)
        self._busy = step
        step.add_done_callback(functools.partial(self._stepped, frame.start))

    def _stepped(self, start: float, step: asyncio.Future[Hypothesis | None]) -> None:
        """Publish what a pass heard; send newly confirmed words on."""
        if step.cancelled() or step.exception() is not None or (heard := step.result()) is None:
            return
        self.bus.publish(_partial(heard.text, heard, start))
        if heard.grew:
            self._send(SpeculativeTranscriptFrame(text=heard.stable, open=True))

    def _transcribe(self, pcm: Pcm16, start: float) -> _Pending:
        """Start a transcription on the model thread (with streaming: the recognizer's final)."""
        audio = pcm.astype(np.float32) / 32768.0
        job = functools.partial(_timed, self.stt, self.recognizer, self._tail, audio, start)
        pending = asyncio.get_running_loop().run_in_executor(self._executor, job)
        self._busy = pending
        return pending

    def _announce(self, start: float, pending: _Pending) -> None:
        """Pass a speculative transcript on, so the LLM can read it before the turn is final."""
        if pending.cancelled() or pending.exception() is not None or pending is not self._latest:
            return  # failed (the utterance reports it), or stale: speech went on after it
        heard = pending.result()
        if not heard.transcript.text:
            return
        frame = SpeculativeTranscriptFrame(text=heard.transcript.text)
        self.bus.publish(_partial(frame.text, heard.hypothesis, start))
        self._send(frame)

    def _send(self, frame: Frame) -> None:
        """Push a frame from a callback; the task is kept alive until it is done."""
        task = asyncio.ensure_future(self.push_frame(frame))
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    async def _utterance(self, frame: UtteranceFrame) -> None:
        speculation, self._speculation = self._speculation, None
        reused = speculation is not None and speculation[0] == (frame.start, frame.end)
        # Speech that went on after the pause makes the speculation stale.
        if speculation is not None and reused:
            pending = speculation[1]
        else:
            self._latest = None  # a speculation still running is stale
            pending = self._transcribe(frame.audio, frame.start)
        try:
            heard = await pending
        except AssistantError as exc:  # the model failed: this turn's failure only
            heard = None
            _fail_turn(self, frame, exc)
        if self.recognizer is not None and not frame.tentative:
            # the utterance is over; a tentative one may still go on, its words with it
            self._executor.submit(self.recognizer.reset)
        if heard is None:
            return
        transcript, stt_ms = heard.transcript, heard.stt_ms
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

    async def idle(self) -> None:
        """Wait until the model has done the last job this stage gave it (benches, tests)."""
        if self._busy is not None:
            await asyncio.wait([self._busy])

    async def cleanup(self) -> None:
        """Let a running transcription finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)
