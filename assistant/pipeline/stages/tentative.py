"""Tentative turns: when a turn ends, with an end-of-turn model (the VAD stage's helper).

With an end-of-turn model (``vad.end_of_turn = "model"``):
- as a pause begins (``speculate_ms``), a *tentative* turn starts: its utterance goes downstream
  at once, so it is transcribed and answered while the pause goes on, its events held on the
  bus and its reply audio in the hold stage; the model is asked on its own thread;
- after ``short_ms`` of silence the model's answer counts: "finished" (and a transcript that
  does not end on an open word such as "the" or "and") confirms the turn, and what was held
  goes out; "not finished" keeps listening and asks again every ``recheck_ms``; at
  ``hangover_ms`` (the long limit) the turn ends whatever the model says;
- with the chat model's opinion (``vad.turn_text``, ``TurnTaking.fusion``) the LLM stage scores
  the words right before it replies (``TurnBoard.scored``), and the fitted fusion of that
  score, the audio probability and the transcript's cues decides instead of the rule. An
  empty transcript of a word's length (``WORD_S``) then waits rather than confirms: most often
  it is a first short word that recognition has not caught yet, and the long limit still ends
  the turn. A shorter one is a click or a breath and ends at once as before, with no reply:
  joined to the words after it, it made Whisper hear none of them. A score that is not
  there in time (the model thread still busy with an earlier reply) leaves the rule to decide;
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
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.audio.vad import SpeechPaused, SpeechStarted, Utterance
from assistant.concurrency import model_executor
from assistant.llm.turn_end import TurnEndScore
from assistant.pipeline import events
from assistant.pipeline.frames import ConfirmFrame, RetractFrame
from assistant.pipeline.turn_fusion import features
from assistant.pipeline.turn_taking import TurnTaking, sounds_unfinished
from assistant.types import Pcm16

if TYPE_CHECKING:
    from assistant.pipeline.stages.vad import VadStage

WORD_S = 0.25  # speech that may hold a word Whisper did not catch alone (shorter: a click)
_TRANSCRIPT_WAIT_S = 3.0  # longest wait for a tentative transcript at a decision
# Longest wait for the LLM stage to be on the chat model's opinion (it may still be making an
# earlier reply); without it the rule decides. Once it is, the score (a short call, behind at
# most a read-ahead of the same prompt) is waited for as long as a transcript.
_TEXT_WAIT_S = 0.3
MERGE_EXTRA_MS = 500  # a turn not ending in a question mark may be continued this much later


@dataclass
class _Tentative:
    """A turn from its first pause until it is withdrawn, or confirmed and no longer mergeable."""

    turn: int
    start: float
    confirm_at_ms: int = 0  # found finished: confirmed once the pause is this long
    asked: bool = False  # its transcript ended with a question mark
    end: float = 0.0  # once confirmed: stream seconds at which its speech ended
    spoken_s: float = 0.0  # speech in it (first voiced frame to the pause)
    score: TurnEndScore | None = None  # the chat model's opinion, kept for the rechecks
    waited: bool = False  # for the score, once: later checkpoints take it only if it is there


class TentativeTurns:
    """Opens, confirms, withdraws and merges the turns of a VAD stage with an end-of-turn model."""

    def __init__(self, stage: VadStage, turns: TurnTaking) -> None:
        self.stage, self.turns = stage, turns
        self.current: _Tentative | None = None
        self.confirmed: _Tentative | None = None  # the last confirmed turn, while mergeable
        self._first_audio: dict[int, float] = {}  # turn -> wall time its reply began to play
        self._executor = model_executor("end-of-turn")

    def on_event(self, event: events.Event) -> None:
        """Note when each reply began to play (a reply heard for long is not merged)."""
        if isinstance(event, events.ReplyAudio):
            self._first_audio.setdefault(event.turn_id, event.time)

    def close(self) -> None:
        """Let a running decision finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def paused(self, event: SpeechPaused) -> None:
        """A checkpoint of a pause: open a tentative turn, decide, or confirm a decided one."""
        if self.current is None:
            self.current = await self._open(event)
        elif self.current.confirm_at_ms:
            if event.silence_ms >= self.current.confirm_at_ms:
                await self.confirm()
        elif event.silence_ms >= self.stage.segmenter.config.short_ms:
            await self._decide(event.audio)  # the model hears the pause so far too

    async def ended(self, event: Utterance) -> bool:
        """An utterance ended; True when it was the tentative turn's (the long limit).

        Otherwise a tentative turn of other speech is withdrawn, and the caller sends this
        utterance as a turn of its own.
        """
        current = self.current
        if current is not None and current.start == event.start and not event.forced:
            await self.confirm(by_limit=True)  # the turn is over whatever the model said
            return True
        await self.retract()
        return False

    async def _open(self, event: SpeechPaused) -> _Tentative:
        turn = self.stage.ledger.new()
        self.stage.bus.hold(turn)
        self.turns.board.open(turn)
        await self.stage.send(turn, event.audio, event.start, event.end, tentative=True)
        return _Tentative(turn, event.start, spoken_s=event.end - event.start)

    async def _decide(self, audio: Pcm16) -> None:
        """At a checkpoint of the pause: confirm the turn, or wait for the next checkpoint.

        The model runs on its own thread while recognition finishes on the other core. It is
        asked here (``short_ms``) rather than as the pause begins: with only ~80 ms of the
        pause to hear it often calls finished questions unfinished.
        """
        tentative = self.current
        assert tentative is not None
        model = self.turns.model
        loop = asyncio.get_running_loop()
        asked = loop.run_in_executor(self._executor, model.probability, audio)
        probability = await asked
        text = await self.turns.board.transcript(tentative.turn, _TRANSCRIPT_WAIT_S)
        fused = await _fused(self.turns, tentative, probability, text)
        if self.current is not tentative:  # withdrawn meanwhile
            return
        score = tentative.score
        # not held with the turn: how a pause was judged is worth knowing either way
        self.stage.bus.publish(
            events.EndOfTurn(
                turn=tentative.turn,
                probability=round(probability, 3),
                text=float(f"{score.p_end:.3g}") if score is not None else None,  # often ~1e-5
                fused=round(fused, 3) if fused is not None else None,
            )
        )
        tentative.asked = (text or "").rstrip().endswith("?")
        if not finished(self.turns, probability, text, fused, tentative.spoken_s):
            return
        window = self._merge_window(tentative)
        if self.turns.echo_known() or self.stage.segmenter.silence_ms >= window:
            await self.confirm()
        else:  # its reply would mask a continuation: wait out the merge window instead
            tentative.confirm_at_ms = self.stage.segmenter.extra_checkpoint_ms = window

    async def confirm(self, by_limit: bool = False) -> None:
        """The tentative turn is over: what was held of it goes out, its reply may be heard.

        ``by_limit``: at the long limit, not by a decision.
        """
        assert self.current is not None
        confirmed, self.current = self.current, None
        turn = confirmed.turn
        self.stage.segmenter.extra_checkpoint_ms = 0
        # later speech is a new utterance (or merges with this one)
        ended = self.stage.segmenter.end_now()
        confirmed.end = ended.end if ended is not None else 0.0
        self.turns.board.settle(turn)
        # Answered before its held events go out: a turn that already ended without words
        # (no speech, or its recognition failed) is settled by them, not left "answered",
        # where the next speech would be taken for a barge-in over a reply that never comes.
        self.stage.ledger.answer(turn)
        self.stage.bus.release(turn)
        self.stage.bus.publish(events.Confirmed(turn_id=turn, by_limit=by_limit))
        self.confirmed = confirmed
        self._first_audio = {t: w for t, w in self._first_audio.items() if t >= turn - 1}
        await self.stage.push_frame(ConfirmFrame(turn_id=turn))

    async def retract(self) -> None:
        """The user went on speaking: the tentative turn never happened."""
        if self.current is None:
            return
        turn, self.current = self.current.turn, None
        self.stage.segmenter.extra_checkpoint_ms = 0
        self.turns.board.settle(turn)
        self.stage.bus.drop(turn)
        self.stage.bus.publish(events.Retracted(turn=turn))
        await self.stage.push_frame(RetractFrame(turn_id=turn))

    async def merge(self, event: SpeechStarted) -> bool:
        """Speech right after a confirmed turn whose reply was hardly heard continues it."""
        confirmed = self.confirmed
        if confirmed is None:
            return False
        turn = confirmed.turn
        gap_ms = (event.start - confirmed.end) * 1000
        began = self._first_audio.get(turn)
        heard_ms = (self.stage.wall_at(event.start) - began) * 1000 if began is not None else 0.0
        window = self._merge_window(confirmed)
        if gap_ms > window or heard_ms > self.turns.merge_heard_ms:
            return False
        if self.stage.segmenter.merge_last() is None:
            return False
        self.stage.ledger.settle(turn)
        self.confirmed = None
        self.stage.bus.publish(events.Merged(turn_id=turn))
        await self.stage.push_frame(RetractFrame(turn_id=turn))
        return True

    def _merge_window(self, turn: _Tentative) -> int:
        """How long after its end of speech ``turn`` may be continued (ms).

        A question that sounded finished and was asked as one gets the shorter window.
        """
        return self.turns.merge_ms + (0 if turn.asked else MERGE_EXTRA_MS)


async def _fused(
    turns: TurnTaking, tentative: _Tentative, probability: float, text: str | None
) -> float | None:
    """The fusion's P(finished) at a checkpoint; None without a fusion, words or a score.

    The score is waited for briefly at the first checkpoint that has words, and kept: at the
    rechecks only the audio has changed. A score not under way in time for the
    first is still taken at a recheck once it is, but that is not waited for again.
    """
    if turns.fusion is None or not text:
        return None
    if tentative.score is None:
        wait, tentative.waited = (0.0 if tentative.waited else _TEXT_WAIT_S), True
        board = turns.board
        tentative.score = await board.text_score(tentative.turn, wait, _TRANSCRIPT_WAIT_S)
    if tentative.score is None:
        return None
    return turns.fusion.probability(features(probability, tentative.score, text))


def finished(
    turns: TurnTaking,
    probability: float,
    text: str | None,
    fused: float | None,
    spoken_s: float = WORD_S,
) -> bool:
    """Whether a turn ends at a checkpoint: by the fusion when it has a say, else by the rule.

    ``text`` None: no transcript in time. The rule: a transcript that ends on an open word
    ("the", "and") is never finished, one that ends with a question mark is, and an empty one
    is over. With a fusion an empty transcript of ``spoken_s`` >= ``WORD_S`` of speech waits
    (see the module's notes).
    """
    if turns.fusion is not None:
        if fused is not None:
            return fused >= turns.fusion.threshold
        if text == "" and spoken_s >= WORD_S:
            return False
    if text == "":
        return True
    ready = probability >= turns.threshold or (text or "").rstrip().endswith("?")
    return ready and not (text and sounds_unfinished(text))
