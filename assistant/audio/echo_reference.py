"""The echo reference: what the speaker played while the microphone captured each stretch.

The reference for a microphone frame is what the speaker played at the moment the frame was
captured (both streams are stamped on PortAudio's clock), taken a little ahead so it always
reaches the canceller before its echo. Reads run on contiguously, as the canceller needs:
the two devices' clocks drift apart (by up to ~1 % through a sound server), so each read is
stretched or shrunk by a few samples towards the stamps' smoothed position (a software
phase-locked loop); only an error beyond RESYNC_S makes it jump.

It also keeps the reference's recent loudness (``levels``) and how much sound the canceller
has heard so far (``sound_s``), which the front end's echo bar goes by.
"""

from __future__ import annotations

import time
from collections import deque

from assistant.audio.framing import FRAME_MS
from assistant.audio.gate import level_dbfs
from assistant.audio.playback import Player
from assistant.convert.resample import StreamResampler
from assistant.types import Pcm16

ECHO_TAIL_S = 0.3  # the speaker's sound rings on in the room this long after it ends
ECHO_SPAN_S = 0.6  # the longest echo delay allowed for (AEC3 handles up to 0.5 s)
SOUND_DBFS = -60.0  # the echo path (room, loopback) may lag the speaker by this much
REFERENCE_LEAD_S = 0.02
RESYNC_S = 0.1
SLEW_PER_READ = 4  # samples a read may be stretched or shrunk: ~1 % at 20 ms reads
ERROR_SMOOTHING = 0.05  # per read: the stamps jitter by a callback period


class EchoReference:
    """Reads the speaker's reference ring in step with the microphone, resampled to its rate."""

    def __init__(self, speaker: Player, sample_rate: int, frame: int) -> None:
        self.speaker, self.sample_rate, self.frame = speaker, sample_rate, frame
        self._resampler = StreamResampler(speaker.sample_rate, sample_rate)
        self._due = 0.0
        self._end: int | None = None  # reference stream position read up to
        self._drift = 0.0  # smoothed distance (samples) from the stamps' position
        self.sound_s = 0.0  # how much playback the canceller has heard so far
        self.levels: deque[float] = deque(maxlen=int(ECHO_SPAN_S * 1000 / FRAME_MS))

    def read(self, samples: int, end_time: float | None) -> Pcm16 | None:
        """What the speaker played while ``samples`` microphone samples were captured.

        ``end_time``: the device time at which they end (None: not stamped; reads run on).
        """
        player, rate = self.speaker, self.speaker.sample_rate
        if player.reference is None:
            return None
        self._due += samples * rate / self.sample_rate
        take = int(self._due)
        self._due -= take
        position = None if self._end is None else self._end + take
        anchor = (
            None if end_time is None else player.reference_position(end_time + REFERENCE_LEAD_S)
        )
        if anchor is not None and position is not None:
            error = anchor - position
            self._drift += ERROR_SMOOTHING * (error - self._drift)
            if abs(error) > RESYNC_S * rate or time.monotonic() > player.sound_until + ECHO_TAIL_S:
                position, self._drift = anchor, 0.0
            else:
                step = max(-SLEW_PER_READ, min(SLEW_PER_READ, round(self._drift)))
                position, take = position + step, take + step
                self._drift -= step
        elif anchor is not None:
            position = anchor
        if position is None:
            return None
        self._end = position
        assert player.reference is not None
        reference = self._resampler.process(player.reference.peek(position, take))
        for i in range(0, len(reference) - self.frame + 1, self.frame):
            level = level_dbfs(reference[i : i + self.frame])
            self.levels.append(level)
            if level > SOUND_DBFS:
                self.sound_s += FRAME_MS / 1000
        return reference
