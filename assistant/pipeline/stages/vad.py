"""VAD stage: audio frames in, one UtteranceFrame per turn out; each starts a turn.

With ``barge_in`` the stage also watches the turn in progress (from its utterance until the
sink reports it played, or until it is interrupted): speech starting during that time sends an
InterruptFrame for it downstream, which overtakes its data in every stage and stops playback.

How a turn ends depends on ``turns``. Without it, after a fixed hangover of silence. With it
(an end-of-turn model, ``vad.end_of_turn = "model"``):
- as a pause begins (``speculate_ms``), a *tentative* turn starts: its utterance goes downstream
  at once, so it is transcribed and answered while the pause goes on, its events held on the
  bus and its reply audio in the hold stage; the model is asked on its own thread;
- after ``short_ms`` of silence the model's answer counts: "finished" (and a transcript that
  does not end on an open word such as "the" or "and") confirms the turn, and what was held
  goes out; "not finished" keeps listening and asks again every ``recheck_ms``; at
  ``hangover_ms`` (the long limit) the turn ends whatever the model says;
- speech before the confirmation withdraws the tentative turn: nothing of it is heard, kept
  or reported, and the utterance goes on;
- speech soon after a confirmed turn (``merge_ms`` after its end of speech), before much of
  its reply was heard, takes that turn back and continues its utterance: the joined words
  are answered once. The window is about a second from the end of speech (half a second more
  when the transcript did not end with a question mark), so two questions a second apart
  stay two turns;
- while the front end cannot yet tell the user's voice over the start of a reply from the
  reply's echo (the first reply of a session on a microphone and speaker), a finished turn
  stays tentative until that window has passed: speech within it withdraws the turn instead
  of merging, and no word of it is lost to the echo gate. Once the echo path is known (one
  reply later) turns end as soon as they are finished.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from assistant.audio.vad import (
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    Utterance,
    VadConfig,
    VadEvent,
    VadSegmenter,
)
from assistant.concurrency import model_executor
from assistant.interfaces import Pcm16
from assistant.pipeline import events
from assistant.pipeline.events import EventBus
from assistant.pipeline.frames import (
    AudioFrame,
    ConfirmFrame,
    DataFrame,
    EndFrame,
    InterruptFrame,
    RetractFrame,
    SpeechPauseFrame,
    UtteranceFrame,
)
from assistant.pipeline.processor import ErrorHandler, FrameProcessor
from assistant.pipeline.turn_taking import TurnTaking, sounds_unfinished
from assistant.pipeline.turns import TurnLedger

_WALL_HISTORY = 1000  # audio frames remembered to map stream time to wall-clock time
_TRANSCRIPT_WAIT_S = 3.0  # longest wait for a tentative transcript at a decision
MERGE_EXTRA_MS = 500  # a turn not ending in a question mark may be continued this much later


@dataclass
class _Tentative:
    """A turn from its first pause until it is withdrawn, or confirmed and no longer mergeable."""

    turn: int
    start: float
    confirm_at_ms: int = 0  # found finished: confirmed once the pause is this long
    asked: bool = False  # its transcript ended with a question mark
    end: float = 0.0  # once confirmed: stream seconds at which its speech ended


class VadStage(FrameProcessor):
    """Segments the input with webrtcvad; publishes ``speech_started`` and ``utterance``."""

    def __init__(
        self,
        config: VadConfig,
        barge_in: bool = False,
        turns: TurnTaking | None = None,
        ledger: TurnLedger | None = None,
    ) -> None:
        """``ledger`` numbers the turns, shared with whoever opens typed ones (default: own)."""
        super().__init__("vad")
        self.segmenter = VadSegmenter(config)
        self.sample_rate = config.sample_rate
        self.barge_in = barge_in
        self.turns = turns
        self._own_ledger = ledger is None
        self.ledger = ledger or TurnLedger()
        self._walls: deque[tuple[float, float]] = deque(maxlen=_WALL_HISTORY)  # (end pts, wall)
        self._frame = config.sample_rate * config.frame_ms // 1000
        self._tentative: _Tentative | None = None
        self._confirmed: _Tentative | None = None  # the last confirmed turn, while mergeable
        self._first_audio: dict[int, float] = {}  # turn -> wall time its reply began to play
        self._executor = model_executor("end-of-turn") if turns is not None else None

    async def start(self, bus: EventBus, on_error: ErrorHandler) -> None:
        """Start serving; follow turns to their end to know when speech is a barge-in."""
        await super().start(bus, on_error)
        if self._own_ledger:
            self.ledger.follow(bus)
        bus.listen(self._on_event)

    async def cleanup(self) -> None:
        """Let a running end-of-turn decision finish in the background."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _on_event(self, event: events.Event) -> None:
        if isinstance(event, events.ReplyAudio):
            self._first_audio.setdefault(event.turn_id, event.time)

    async def process_frame(self, frame: DataFrame) -> None:
        """Feed audio to the segmenter, a VAD frame at a time; flush it at the end of the input."""
        if isinstance(frame, AudioFrame):
            if frame.sample_rate != self.sample_rate:
                raise ValueError(f"VAD needs {self.sample_rate} Hz audio, got {frame.sample_rate}")
            self._walls.append((frame.end, frame.wall))
            vad_pcm = frame.vad_pcm
            # One frame at a time: a decision taken at an event sees the segmenter as it was.
            for i in range(0, len(frame.pcm), self._frame):
                piece = slice(i, i + self._frame)
                gated = vad_pcm[piece] if vad_pcm is not None else None
                for event in self.segmenter.feed(frame.pcm[piece], gated):
                    await self._emit(event)
            return
        if isinstance(frame, EndFrame):
            for event in self.segmenter.flush():
                await self._emit(event)
        await self.push_frame(frame)

    async def _emit(self, event: VadEvent) -> None:
        if isinstance(event, SpeechStarted):
            await self._speech_started(event)
        elif isinstance(event, SpeechResumed):
            await self._retract()
        elif isinstance(event, SpeechPaused):
            await self._paused(event)
        else:
            await self._utterance(event)

    async def _speech_started(self, event: SpeechStarted) -> None:
        self.bus.publish(events.SpeechStarted(start=event.start))
        if await self._merge(event):
            return
        if self.barge_in and self.ledger.answering:
            await self._interrupt(event)

    async def _paused(self, event: SpeechPaused) -> None:
        if self.turns is None:  # transcribe speculatively while the hangover runs
            frame = SpeechPauseFrame(audio=event.audio, start=event.start, end=event.end)
            await self.push_frame(frame)
        elif self._tentative is None:
            self._tentative = await self._open_tentative(event)
        elif self._tentative.confirm_at_ms:
            if event.silence_ms >= self._tentative.confirm_at_ms:
                await self._confirm()
        elif event.silence_ms >= self.segmenter.config.short_ms:
            await self._decide(event.audio)  # the model hears the pause so far too

    async def _utterance(self, event: Utterance) -> None:
        tentative = self._tentative
        if tentative is not None and tentative.start == event.start and not event.forced:
            await self._confirm()  # the long limit: the turn is over whatever the model said
            return
        await self._retract()
        turn = self.ledger.answer(self.ledger.new())
        await self._send(turn, event.audio, event.start, event.end, forced=event.forced)

    async def _send(
        self,
        turn: int,
        audio: Pcm16,
        start: float,
        end: float,
        forced: bool = False,
        tentative: bool = False,
    ) -> None:
        wall = self.wall_at(end)
        self.bus.publish(
            events.Utterance(
                turn_id=turn, start=start, end=end, speech_end_wall=wall, forced=forced
            )
        )
        frame = UtteranceFrame(
            turn_id=turn,
            audio=audio,
            sample_rate=self.sample_rate,
            start=start,
            end=end,
            speech_end_wall=wall,
            tentative=tentative,
        )
        await self.push_frame(frame)

    # --- tentative turns (the end-of-turn model) ------------------------------------------

    async def _open_tentative(self, event: SpeechPaused) -> _Tentative:
        assert self.turns is not None
        turn = self.ledger.new()
        self.bus.hold(turn)
        self.turns.board.open(turn)
        await self._send(turn, event.audio, event.start, event.end, tentative=True)
        return _Tentative(turn, event.start)

    async def _decide(self, audio: Pcm16) -> None:
        """At a checkpoint of the pause: confirm the turn, or wait for the next checkpoint.

        The model runs on its own thread while recognition finishes on the other core. It is
        asked here (``short_ms``) rather than as the pause begins: with only ~80 ms of the
        pause to hear it often calls finished questions unfinished. A transcript that ends on
        an open word ("the", "and") is never finished; one that ends with a question mark is.
        """
        assert self.turns is not None and self._executor is not None
        tentative = self._tentative
        assert tentative is not None
        model = self.turns.model
        loop = asyncio.get_running_loop()
        asked = loop.run_in_executor(self._executor, model.probability, audio)
        probability = await asked
        text = await self.turns.board.transcript(tentative.turn, _TRANSCRIPT_WAIT_S)
        if self._tentative is not tentative:  # withdrawn meanwhile
            return
        # not held with the turn: how a pause was judged is worth knowing either way
        self.bus.publish(events.EndOfTurn(turn=tentative.turn, probability=round(probability, 3)))
        tentative.asked = (text or "").rstrip().endswith("?")
        finished = probability >= self.turns.threshold or tentative.asked
        if not (text == "" or (finished and not (text and sounds_unfinished(text)))):
            return
        window = self._merge_window(tentative)
        if self.turns.echo_known() or self.segmenter.silence_ms >= window:
            await self._confirm()
        else:  # its reply would mask a continuation: wait out the merge window instead
            tentative.confirm_at_ms = self.segmenter.extra_checkpoint_ms = window

    async def _confirm(self) -> None:
        assert self.turns is not None and self._tentative is not None
        confirmed, self._tentative = self._tentative, None
        turn = confirmed.turn
        self.segmenter.extra_checkpoint_ms = 0
        ended = self.segmenter.end_now()  # later speech is a new utterance (or merges with it)
        confirmed.end = ended.end if ended is not None else 0.0
        self.turns.board.settle(turn)
        self.bus.release(turn)
        self.bus.publish(events.Confirmed(turn_id=turn))
        self.ledger.answer(turn)
        self._confirmed = confirmed
        self._first_audio = {t: w for t, w in self._first_audio.items() if t >= turn - 1}
        await self.push_frame(ConfirmFrame(turn_id=turn))

    async def _retract(self) -> None:
        """The user went on speaking: the tentative turn never happened."""
        if self.turns is None or self._tentative is None:
            return
        turn, self._tentative = self._tentative.turn, None
        self.segmenter.extra_checkpoint_ms = 0
        self.turns.board.settle(turn)
        self.bus.drop(turn)
        self.bus.publish(events.Retracted(turn=turn))
        await self.push_frame(RetractFrame(turn_id=turn))

    async def _merge(self, event: SpeechStarted) -> bool:
        """Speech right after a confirmed turn whose reply was hardly heard continues it."""
        confirmed = self._confirmed
        if self.turns is None or confirmed is None:
            return False
        turn = confirmed.turn
        gap_ms = (event.start - confirmed.end) * 1000
        began = self._first_audio.get(turn)
        heard_ms = (self.wall_at(event.start) - began) * 1000 if began is not None else 0.0
        window = self._merge_window(confirmed)
        if gap_ms > window or heard_ms > self.turns.merge_heard_ms:
            return False
        if self.segmenter.merge_last() is None:
            return False
        self.ledger.settle(turn)
        self._confirmed = None
        self.bus.publish(events.Merged(turn_id=turn))
        await self.push_frame(RetractFrame(turn_id=turn))
        return True

    def _merge_window(self, turn: _Tentative) -> int:
        """How long after its end of speech ``turn`` may be continued (ms).

        A question that sounded finished and was asked as one gets the shorter window.
        """
        assert self.turns is not None
        return self.turns.merge_ms + (0 if turn.asked else MERGE_EXTRA_MS)

    async def _interrupt(self, event: SpeechStarted) -> None:
        turn = self.ledger.interrupt_all()
        self.bus.publish(
            events.BargeIn(
                turn_id=turn,
                onset_wall=self.wall_at(event.start),
                detected_wall=self.wall_at(event.detected_at),
            )
        )
        await self.push_frame(InterruptFrame(turn_id=turn))

    def wall_at(self, pts: float) -> float:
        """The monotonic time at which stream time ``pts`` was captured."""
        for end, wall in self._walls:
            if end >= pts:
                return wall - (end - pts)
        end, wall = self._walls[-1]
        return wall - (end - pts)
