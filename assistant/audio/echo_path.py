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
never qualifies; each reply is judged afresh, so a switch to speakers is noticed.

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
        self.absent = False
        self.echo_db: float | None = None  # echo level relative to the playback, once measured

    def reset(self) -> None:
        """The reply ended: judge the next one afresh (the echo level is kept)."""
        self._quiet.clear()
        self.absent = False

    def observe(self, speaker_dbfs: float, raw_dbfs: float, clean_dbfs: float, bar: float) -> bool:
        """One frame: loudest recent playback, raw and cancelled microphone, the gate's bar.

        Returns whether the microphone's sound in this frame may be nothing but echo.
        """
        if speaker_dbfs < LOUD_DBFS:
            return False
        if not self.absent:
            self._quiet.append(raw_dbfs < bar)
            if len(self._quiet) == EVIDENCE_FRAMES:
                self.absent = sum(self._quiet) >= QUIET_SHARE * EVIDENCE_FRAMES
        if self.absent:
            return False
        if raw_dbfs > bar and clean_dbfs < raw_dbfs - CANCELLING_DB:
            measured = raw_dbfs - speaker_dbfs
            decayed = -100.0 if self.echo_db is None else self.echo_db - ECHO_LEVEL_DECAY_DB
            self.echo_db = max(measured, decayed)
        echo = ASSUMED_ECHO_DB if self.echo_db is None else self.echo_db
        return raw_dbfs < speaker_dbfs + echo + DOUBLE_TALK_DB
