"""Audio without the wake word for bench/wake.py: an hour of talk, near misses and noise.

False wakes per hour mean little on a few minutes, so the corpus is long: household talk
built from templates (seeded, so every run hears the same words) spoken by Piper at two
speeds and joined into minute-long stretches with pauses (half of them under fan noise), then
fan noise, white noise and silence. Near misses, phrases that sound like "hey Jarvis"
without being it, are kept apart: each is its own clip, so the bench can say which wake it.
"""

from __future__ import annotations

import numpy as np

from assistant.models.piper import PiperTTS
from assistant.types import Pcm16
from tests import media

NEAR_MISSES = [
    "Hey Travis, are you coming with us?",
    "Jarvis was the butler in that film.",
    "Hey, Marcus, pass me the salt.",
    "Hey there, how are you doing?",
    "The harvest starts in September.",
    "Hey Jarvie, is that your bike?",
    "Say Jarvis slowly, then say it fast.",
    "Hey, just a minute, please.",
]
_WHO = ["I", "We", "My sister", "The neighbours", "Our teacher", "Tom", "The kids", "Anna"]
_DID = ["bought", "painted", "fixed", "forgot", "cleaned", "found", "moved", "cooked"]
_WHAT = [
    "the old bicycle",
    "a pot of soup",
    "the kitchen table",
    "three new chairs",
    "the garden fence",
    "a cake for Sunday",
    "the broken lamp",
    "some fresh bread",
]
_WHEN = ["yesterday", "this morning", "last week", "after lunch", "on Friday", "at night"]
_ASK = [
    "Did you remember to call your mother?",
    "Where did you put the car keys?",
    "Should we go for a walk later?",
    "Is it going to rain this afternoon?",
    "What do you want for dinner?",
    "Can you turn the music down a little?",
]


def sentences(count: int, seed: int = 7) -> list[str]:
    """``count`` sentences of ordinary talk, none of them with the wake word."""
    rng = np.random.default_rng(seed)
    out: list[str] = []
    while len(out) < count:
        pick = int(rng.integers(10))
        if pick < 3:
            out.append(str(rng.choice(_ASK)))
        else:
            parts = (rng.choice(_WHO), rng.choice(_DID), rng.choice(_WHAT), rng.choice(_WHEN))
            out.append(" ".join(str(p) for p in parts) + ".")
    return out


def near_misses(voices: list[PiperTTS], renditions: int = 3) -> list[tuple[str, Pcm16]]:
    """Each near miss, ``renditions`` times per voice, with silence around it."""
    pad = media.silence(0.5)
    return [
        (text, np.concatenate([pad, media.speech(voice, text), pad]))
        for text in NEAR_MISSES
        for voice in voices
        for _ in range(renditions)
    ]


def talk(voices: list[PiperTTS], minutes: float, seed: int = 7) -> list[Pcm16]:
    """Minute-long stretches of talk and pauses, ``minutes`` in all."""
    rng = np.random.default_rng(seed)
    stretches: list[Pcm16] = []
    texts = iter(sentences(int(minutes * 60 / 2) + 50, seed))
    while len(stretches) < minutes:
        parts: list[Pcm16] = []
        while sum(len(p) for p in parts) < 60 * media.RATE:
            voice = voices[int(rng.integers(len(voices)))]
            parts += [media.speech(voice, next(texts)), media.silence(float(rng.uniform(0.2, 1.2)))]
        pcm = np.concatenate(parts)
        if len(stretches) % 2:
            fan = media.fan_noise(len(pcm) / media.RATE + 0.01, -40.0, seed=len(stretches))
            fan = fan[: len(pcm)]  # seconds to samples may round one short
            pcm = np.clip(pcm.astype(np.int32) + fan, -32768, 32767).astype(np.int16)
        stretches.append(pcm)
    return stretches


def noises(minutes: float) -> list[Pcm16]:
    """Fan noise (half), white noise and silence (a quarter each), in minute-long pieces."""
    pieces: list[Pcm16] = []
    for i in range(int(minutes)):
        kind = ("fan", "fan", "white", "silence")[i % 4]
        if kind == "fan":
            pieces.append(media.fan_noise(60.0, -35.0, seed=100 + i))
        elif kind == "white":
            pieces.append(media.noise(60.0, -40.0, seed=100 + i))
        else:
            pieces.append(media.silence(60.0))
    return pieces
