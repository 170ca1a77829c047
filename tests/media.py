"""Test media made on the spot: speech from Piper, silence, noise and tones, written as files."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np

from assistant.audio.gate import level_dbfs as level_dbfs  # RMS level of a whole clip
from assistant.convert.resample import StreamResampler
from assistant.models.piper import PiperTTS
from assistant.types import Pcm16

RATE = 16000


def speech(tts: PiperTTS, text: str, rate: int = RATE) -> Pcm16:
    """``text`` spoken by Piper, resampled to ``rate``."""
    pcm = np.concatenate(list(tts.synthesize(text)))
    resampler = StreamResampler(tts.sample_rate, rate)
    return np.concatenate([resampler.process(pcm), resampler.process(pcm[:0], last=True)])


def silence(seconds: float, rate: int = RATE) -> Pcm16:
    return np.zeros(int(seconds * rate), np.int16)


def noise(seconds: float, dbfs: float = -30.0, rate: int = RATE, seed: int = 0) -> Pcm16:
    """White noise at the given RMS level."""
    rms = 32768 * 10 ** (dbfs / 20)
    samples = np.random.default_rng(seed).normal(0, rms, int(seconds * rate))
    return np.clip(samples, -32768, 32767).astype(np.int16)


def write_wav(path: Path, pcm: Pcm16, rate: int = RATE, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(pcm, channels).astype("<i2").tobytes())
    return path


def write_encoded(
    path: Path, pcm: Pcm16, rate: int, codec: str, out_rate: int, layout: str
) -> Path:
    """Encode mono PCM with PyAV into any container/codec/rate/layout."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=out_rate, layout=layout)
        resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=out_rate)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(chunk):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def read_wav(path: Path) -> tuple[Pcm16, int]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16), w.getframerate()


def rms_dbfs(pcm: Pcm16) -> float:
    if pcm.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))
    return 20 * np.log10(max(rms, 1e-9) / 32768)


def speech_to_rate(pcm: Pcm16, rate: int) -> Pcm16:
    """16 kHz audio at another rate (8 kHz for a telephone line)."""
    resampler = StreamResampler(RATE, rate)
    return np.concatenate([resampler.process(pcm), resampler.process(pcm[:0], last=True)])


def speech_to_16k(pcm: Pcm16, rate: int) -> Pcm16:
    """Resample any rate to the 16 kHz Whisper takes."""
    resampler = StreamResampler(rate, RATE)
    return np.concatenate([resampler.process(pcm), resampler.process(pcm[:0], last=True)])


def fan_noise(seconds: float, dbfs: float = -35.0, rate: int = RATE, seed: int = 1) -> Pcm16:
    """A fan: brown-ish broadband rumble, a mains hum and a slow blade-pass wobble."""
    n, edge = int(seconds * rate), 1000
    rng = np.random.default_rng(seed)
    brown = np.cumsum(rng.normal(0, 1, n + 2 * edge))
    brown -= np.convolve(brown, np.ones(801) / 801, mode="same")  # keep it from drifting
    brown = brown[edge:-edge]
    t = np.arange(n) / rate
    hum = 0.3 * np.sin(2 * np.pi * 100 * t) + 0.15 * np.sin(2 * np.pi * 200 * t)
    mix = (brown / (brown.std() + 1e-9) + hum + 0.3 * rng.normal(0, 1, n)) * (
        1 + 0.1 * np.sin(2 * np.pi * 12 * t)
    )
    mix *= 32768 * 10 ** (dbfs / 20) / (mix.std() + 1e-9)
    return np.clip(mix, -32768, 32767).astype(np.int16)
