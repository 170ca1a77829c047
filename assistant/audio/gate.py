"""An energy noise gate in front of the VAD, with a noise floor calibrated at start.

The gate works on 10 ms frames. It opens when 30 ms in a row are louder than both the
absolute threshold and the noise floor plus a margin (single noise spikes do not count), stays
open until the level falls 3 dB below that, and fades with a fast attack and a slower release
so word endings survive. The floor is first measured over ``calibrate_ms`` (the gate stays
closed meanwhile) and afterwards follows the quietest frames of the last few seconds (minimum
statistics), so a fan switched on later is learned within ``floor_window_s`` while speech,
which always has gaps, is not. The first measurement takes the quietest frames too, not the
median: someone who starts talking as soon as the microphone opens must not teach the gate that
their voice is the room. ``learn`` measures without gating, for an owner that holds the first
``calibrate_ms`` back and gates it once the floor is known (see pipeline/stages/frontend.py).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assistant.audio.framing import FRAME_MS, Framer
from assistant.types import Pcm16

_SILENCE_DBFS = -100.0
OPEN_FRAMES = 3  # a noise spike shorter than 30 ms does not open the gate
HYSTERESIS_DB = 3.0
FLOOR_PERCENTILE = 10  # speech leaves more quiet frames than this in any few seconds
FLOOR_BIAS_DB = 3.0  # the 10th percentile of steady noise lies about this far below its median


@dataclass(frozen=True)
class GateConfig:
    """Gate parameters (see AudioSettings for their meaning)."""

    threshold_dbfs: float = -55.0
    margin_db: float = 10.0
    attack_ms: float = 5.0
    release_ms: float = 200.0
    calibrate_ms: int = 500
    floor_window_s: float = 3.0


def level_dbfs(pcm: Pcm16) -> float:
    """RMS level relative to full scale."""
    if pcm.size == 0:
        return _SILENCE_DBFS
    x = pcm.astype(np.float32)
    rms = math.sqrt(float(np.dot(x, x)) / pcm.size)
    return max(_SILENCE_DBFS, 20 * math.log10(rms / 32768.0 + 1e-12))


class NoiseGate:
    """Attenuates 16 kHz (or any rate) int16 audio that is not louder than the noise."""

    def __init__(self, sample_rate: int, config: GateConfig | None = None) -> None:
        self.config = cfg = config or GateConfig()
        self.frame = sample_rate * FRAME_MS // 1000
        self._attack = _coefficient(cfg.attack_ms)
        self._release = _coefficient(cfg.release_ms)
        self._calibration: list[float] = []
        self._calibrate_frames = max(1, cfg.calibrate_ms // FRAME_MS)
        self._recent: deque[float] = deque(maxlen=max(1, int(cfg.floor_window_s * 100)))
        self.floor_dbfs: float | None = None
        self._frames = 0
        self.gain = 0.0
        self._open = False
        self._above = 0  # consecutive frames above the bar while closed
        self._framer = Framer(self.frame)

    @property
    def is_open(self) -> bool:
        """Whether the gate lets sound through now."""
        return self._open

    @property
    def calibrating(self) -> bool:
        """Whether the noise floor is still being measured (the gate is closed meanwhile)."""
        return self.floor_dbfs is None

    def learn(self, pcm: Pcm16) -> None:
        """Measure the room on whole frames of ``pcm`` without gating them (while calibrating)."""
        for i in range(0, len(pcm) - self.frame + 1, self.frame):
            if self.floor_dbfs is not None:
                return
            self._track_floor(level_dbfs(pcm[i : i + self.frame]))

    def settle(self) -> None:
        """End the calibration with what was measured so far (the input ended early)."""
        if self.floor_dbfs is None and self._calibration:
            self.floor_dbfs = _quiet_level(self._calibration)

    @property
    def threshold_dbfs(self) -> float:
        """The level a frame must exceed to open the gate now."""
        floor = self.floor_dbfs if self.floor_dbfs is not None else _SILENCE_DBFS
        return max(self.config.threshold_dbfs, floor + self.config.margin_db)

    def process(self, pcm: Pcm16, raise_db: float = 0.0) -> Pcm16:
        """Gate samples (any length; output lags by under 10 ms); ``raise_db`` lifts the bar."""
        data = self._framer.push(pcm)
        out = np.empty(len(data), np.int16)
        for i in range(0, len(data), self.frame):
            out[i : i + self.frame] = self._frame(data[i : i + self.frame], raise_db)
        return out

    def _frame(self, frame: Pcm16, raise_db: float) -> Pcm16:
        level = level_dbfs(frame)
        self._track_floor(level)
        bar = self.threshold_dbfs + raise_db
        if self.floor_dbfs is None:  # still listening to the room: nothing passes yet
            self._open = False
        elif self._open:  # hysteresis: stay open through the dips inside a word
            self._open = level > bar - HYSTERESIS_DB
        else:
            self._above = self._above + 1 if level > bar else 0
            self._open = self._above >= OPEN_FRAMES
        target = 1.0 if self._open else 0.0
        coefficient = self._attack if target > self.gain else self._release
        start = self.gain
        self.gain = target + (self.gain - target) * coefficient
        if self.gain < 1e-4 and start < 1e-4:  # closed
            self.gain = 0.0
            return np.zeros_like(frame)
        if self.gain > 0.9999 and start > 0.9999:  # open
            self.gain = 1.0
            return frame
        ramp = np.linspace(start, self.gain, len(frame), dtype=np.float32)  # no clicks
        return (frame * ramp).astype(np.int16)

    def _track_floor(self, level: float) -> None:
        if self.floor_dbfs is None:
            self._calibration.append(level)
            if len(self._calibration) >= self._calibrate_frames:
                self.floor_dbfs = _quiet_level(self._calibration)
            return
        self._recent.append(level)
        self._frames += 1
        if len(self._recent) == self._recent.maxlen and self._frames % 10 == 0:
            self.floor_dbfs = _quiet_level(self._recent)


def _quiet_level(levels: Sequence[float]) -> float:
    """The room's level under ``levels`` (dBFS): their quietest tenth, lifted to a median."""
    return float(np.percentile(levels, FLOOR_PERCENTILE)) + FLOOR_BIAS_DB


def _coefficient(ms: float) -> float:
    """Per-frame smoothing factor for a time constant of ``ms``."""
    return math.exp(-FRAME_MS / ms) if ms > 0 else 0.0
