"""Signal helpers for the end-of-turn dev set: levels, room tone, pauses, telephone band, noise.

All audio is mono int16 at 16 kHz unless a function says otherwise. Levels are measured in
10 ms frames, the resolution of every boundary and span in the set.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import soxr

from assistant.types import Pcm16

RATE = 16000
FRAME = RATE // 100  # 10 ms
PHONE_RATE = 8000
_FADE = FRAME  # crossfade between looped pieces of room tone


def frame_db(pcm: Pcm16) -> np.ndarray:
    """The level of each whole 10 ms frame, dBFS."""
    n = len(pcm) // FRAME
    frames = pcm[: n * FRAME].astype(np.float64).reshape(n, FRAME) / 32768.0
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)


def _levels(pcm: Pcm16) -> tuple[np.ndarray, float, float]:
    """Frame levels (median of three, dBFS), the floor and the loudest speech."""
    db = frame_db(pcm)
    padded = np.concatenate([db[:1], db, db[-1:]])
    smooth = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
    return smooth, float(np.percentile(db, 5)), float(np.percentile(db, 98))


def silent_frames(pcm: Pcm16) -> np.ndarray:
    """Which 10 ms frames are silence: near the floor, or far below the loudest speech.

    The two bounds cover both kinds of source: a recording with a room-noise floor (which
    wavers by 10-15 dB from frame to frame in these recordings, hence the margin and the
    median over three frames), and synthetic speech whose pauses are digital zeros.
    """
    smooth, floor, peak = _levels(pcm)
    return smooth < max(floor + 14.0, peak - 40.0)


def speech_bounds(pcm: Pcm16) -> tuple[float, float]:
    """Seconds of the first and last frame of speech proper (within 25 dB of the loudest).

    Stricter than ``silent_frames``: a breath or a fading fricative after the last word is
    not speech that a decision could cut into.
    """
    smooth, floor, peak = _levels(pcm)
    sounding = np.flatnonzero(smooth >= max(floor + 14.0, peak - 25.0))
    if not len(sounding):
        raise ValueError("no speech found")
    return sounding[0] / 100, (sounding[-1] + 1) / 100


def gaps(pcm: Pcm16, start: float, end: float, least_s: float = 0.1) -> list[tuple[float, float]]:
    """Silences of at least ``least_s`` between ``start`` and ``end`` (seconds)."""
    silent = silent_frames(pcm)
    found, run_start = [], None
    for i in range(int(start * 100), min(int(end * 100), len(silent))):
        if silent[i] and run_start is None:
            run_start = i
        elif not silent[i] and run_start is not None:
            if (i - run_start) / 100 >= least_s:
                found.append((run_start / 100, i / 100))
            run_start = None
    return found


def quietest(pcm: Pcm16, around: float, within: float = 0.15) -> float:
    """The start (seconds) of the quietest 10 ms frame within ``within`` of ``around``."""
    db = frame_db(pcm)
    lo = max(0, int((around - within) * 100))
    hi = min(len(db), int((around + within) * 100) + 1)
    return (lo + int(np.argmin(db[lo:hi]))) / 100


def room_tone(pcm: Pcm16, seconds: float, piece_s: float = 0.1) -> Pcm16:
    """``seconds`` of the recording's own quietest ``piece_s``, looped with crossfades.

    The pause then has the recording's noise floor, so no step in level marks it.
    """
    n = int(piece_s * RATE)
    if seconds <= 0:
        return np.zeros(0, np.int16)
    db = frame_db(pcm)
    width = n // FRAME
    loudest = np.lib.stride_tricks.sliding_window_view(db, width).max(axis=1)
    start = int(np.argmin(loudest)) * FRAME  # no frame of the piece stands out
    piece = pcm[start : start + n].astype(np.float64)
    ramp = np.linspace(0.0, 1.0, _FADE)
    out = piece.copy()
    while len(out) < seconds * RATE:
        joined = out[-_FADE:] * ramp[::-1] + piece[:_FADE] * ramp
        out = np.concatenate([out[:-_FADE], joined, piece[_FADE:]])
    return out[: int(seconds * RATE)].astype(np.int16)


def telephone(pcm: Pcm16) -> Pcm16:
    """As a phone line carries it: 8 kHz, 300-3400 Hz, mu-law; back at 16 kHz for the VAD."""
    narrow = soxr.resample(pcm.astype(np.float32) / 32768.0, RATE, PHONE_RATE)
    band = np.convolve(narrow, _band_pass(300.0, 3400.0, PHONE_RATE), "same")
    mu = 255.0
    coded = np.sign(band) * np.log1p(mu * np.minimum(np.abs(band), 1.0)) / np.log1p(mu)
    coded = np.round(coded * 127) / 127  # 8 bits a sample
    decoded = np.sign(coded) * np.expm1(np.abs(coded) * np.log1p(mu)) / mu
    wide = soxr.resample(decoded.astype(np.float32), PHONE_RATE, RATE)
    return (np.clip(wide, -1.0, 1.0) * 32767).astype(np.int16)


def _band_pass(low: float, high: float, rate: int, taps: int = 255) -> np.ndarray:
    """A windowed-sinc FIR band-pass (no scipy here)."""
    t = np.arange(taps) - (taps - 1) / 2

    def low_pass(cut: float) -> np.ndarray:
        return 2 * cut / rate * np.sinc(2 * cut / rate * t)

    return (low_pass(high) - low_pass(low)) * np.hamming(taps)


def with_noise(pcm: Pcm16, snr_db: float, seed: int) -> Pcm16:
    """White noise at ``snr_db`` below the level of the speech (its sounding frames only)."""
    speech = pcm.astype(np.float64)
    sounding = ~silent_frames(pcm)
    frames = speech[: len(sounding) * FRAME].reshape(-1, FRAME)[sounding]
    power = float(np.mean(frames**2)) if frames.size else 1.0
    noise = np.random.default_rng(seed).standard_normal(len(pcm))
    noise *= np.sqrt(power / 10 ** (snr_db / 10))
    return np.clip(speech + noise, -32768, 32767).astype(np.int16)


def read_pcm(path: Path) -> Pcm16:
    """A 16 kHz mono WAV, or headerless s16le (the package's .raw files)."""
    if path.suffix == ".raw":
        return np.frombuffer(path.read_bytes(), np.int16).copy()
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16 kHz mono 16-bit")
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).copy()
