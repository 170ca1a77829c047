"""What the microphone hears of the speaker: nothing at all (headphones), or how loud an echo.

Two judgements, made per 10 ms frame while the assistant speaks:

**No echo path.** WebRTC's AEC3 assumes, until its filter has found an echo path, that the echo
may be as loud as the playback, and suppresses everything quieter. With headphones there is no
echo path to find, so a user talking over the first seconds of playback is cut by 30-60 dB
(measured; AEC3 turns transparent only after about 8 s of playback): barge-in and the words that
follow would be lost. So if, over the last second of loud playback, the raw microphone stayed
under the noise gate's bar nine times out of ten, nothing of the speaker reaches it (`absent`),
and the front end uses the raw microphone instead of the canceller's output until the reply
ends. A microphone that hears the speaker is above the bar whenever the speaker is loud, so it
never qualifies. Once a reply has been judged so, later replies of the session start out judged
so: a user who goes on talking in the first second of a reply (continuing the sentence the
reply was too quick to answer) must be heard, and that second is too short to judge afresh. A
switch to speakers in mid-session is a new device, and the front end starts over. A second in
which the canceller was seen removing an echo never qualifies either: a speaker that stutters
on a loaded machine falls silent for moments while the reference says it played, which looks
like a quiet microphone but is not headphones.

**Echo loudness.** AEC3 sometimes lets its echo through for a moment (at the very start, or when
the echo path shifts after a pause in playback) at nearly full level, which would look like the
user talking. While the canceller is visibly working (its output 15 dB under the raw signal),
the raw microphone is pure echo, so its level against the playback's gives the echo return
level. A frame whose raw level stays within ``DOUBLE_TALK_DB`` of the echo that playback could
cause is `explained` by echo and must not start a barge-in: a user has to be heard over the
echo, as in the classic Geigel double-talk detector, but with the echo level measured instead
of assumed. Until it is measured the echo is assumed as loud as the playback.
"""

from __future__ import annotations

from collections import deque

from assistant.audio.gate import level_dbfs
from assistant.types import Pcm16

LOUD_DBFS = -40.0  # playback at least this loud would be heard by a microphone in the room
EVIDENCE_FRAMES = 100  # frames of loud playback judged (one second of 10 ms frames)
QUIET_SHARE = 0.9  # share of them the microphone must stay under the bar (the user may speak)
CANCELLING_DB = 15.0  # the canceller removes at least this much: the raw signal is echo
DOUBLE_TALK_DB = 6.0  # how far over the possible echo the microphone must be to count as talk
ECHO_LEVEL_DECAY_DB = 0.01  # per frame (1 dB/s): a lowered volume is believed slowly
ASSUMED_ECHO_DB = 0.0  # echo level relative to the playback before any is measured


class EchoPath:
    """Judges, frame by frame during playback, whether the microphone hears the speaker."""

    def __init__(self) -> None:
        self._quiet: deque[bool] = deque(maxlen=EVIDENCE_FRAMES)
        self._cancelled: deque[bool] = deque(maxlen=EVIDENCE_FRAMES)
        self.absent = False
        self.echo_db: float | None = None  # echo level relative to the playback, once measured

    @property
    def known(self) -> bool:
        """Whether the microphone was found to hear no speaker, or how loud its echo is.

        Until then a user talking in the first second of a reply cannot be told from its echo.
        """
        return self.absent or self.echo_db is not None

    def reset(self) -> None:
        """The reply ended: the next one starts from this one's verdict (and echo level)."""
        self._quiet.clear()
        self._cancelled.clear()

    def judge(
        self,
        speaker_dbfs: float,
        source_dbfs: float,
        raw: Pcm16,
        clean: Pcm16,
        bar: float,
        frame: int,
    ) -> list[bool]:
        """``observe`` for each ``frame``-sample frame of a block: which are echo alone.

        Empty while the speaker is quiet: then there is nothing to judge, nor levels to compute.
        """
        if max(speaker_dbfs, source_dbfs) < LOUD_DBFS:
            return []
        return [
            self.observe(
                speaker_dbfs,
                level_dbfs(raw[i : i + frame]),
                level_dbfs(clean[i : i + frame]),
                bar,
                source_dbfs=source_dbfs,
            )
            for i in range(0, len(raw), frame)
        ]

    def observe(
        self,
        speaker_dbfs: float,
        raw_dbfs: float,
        clean_dbfs: float,
        bar: float,
        source_dbfs: float | None = None,
    ) -> bool:
        """One frame: loudest recent playback, raw and cancelled microphone, the gate's bar.

        ``source_dbfs`` is the loudest playback whose echo may still be arriving, where the
        speaker's timing is uncertain (by default ``speaker_dbfs``). Returns whether the
        microphone's sound in this frame may be nothing but echo.
        """
        source = speaker_dbfs if source_dbfs is None else max(speaker_dbfs, source_dbfs)
        cancelled = raw_dbfs > bar and clean_dbfs < raw_dbfs - CANCELLING_DB
        if speaker_dbfs >= LOUD_DBFS and not self.absent:
            self._quiet.append(raw_dbfs < bar)
            self._cancelled.append(cancelled)
            if len(self._quiet) == EVIDENCE_FRAMES and not any(self._cancelled):
                self.absent = sum(self._quiet) >= QUIET_SHARE * EVIDENCE_FRAMES
        if self.absent or source < LOUD_DBFS:
            return False
        if cancelled:
            measured = raw_dbfs - source
            decayed = -100.0 if self.echo_db is None else self.echo_db - ECHO_LEVEL_DECAY_DB
            self.echo_db = max(measured, decayed)
        echo = ASSUMED_ECHO_DB if self.echo_db is None else self.echo_db
        return raw_dbfs < source + echo + DOUBLE_TALK_DB
