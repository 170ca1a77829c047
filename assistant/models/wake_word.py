"""Wake words: the four microWakeWord models shipped inside the ``pymicro-wakeword`` wheel.

okay_nabu, hey_jarvis, hey_mycroft and alexa (Apache-2.0), each a small streaming TFLite
model over 10 ms feature frames; all offline. A detector hears 16 kHz mono int16 audio in
pieces of any length and says when its word was spoken.
"""

from __future__ import annotations

from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

from assistant.errors import ConfigError
from assistant.types import Pcm16

WAKE_WORDS = tuple(model.value for model in Model)  # okay_nabu, hey_jarvis, ...


def check_wake_word(name: str) -> str:
    """``name`` if it is a built-in wake word, else ConfigError listing them."""
    if name not in WAKE_WORDS:
        raise ConfigError(f"no wake word {name!r}; choose one of {', '.join(WAKE_WORDS)}")
    return name


class WakeWordDetector:
    """One wake word, listened for in a stream of 16 kHz mono audio."""

    sample_rate = 16000

    def __init__(self, name: str) -> None:
        self.name = check_wake_word(name)
        self._model = MicroWakeWord.from_builtin(Model(name))
        self.phrase = str(self._model.wake_word)  # as it is spoken, e.g. "Hey Jarvis"
        self._features = MicroWakeWordFeatures()

    def hear(self, pcm: Pcm16) -> bool:
        """Feed audio; True when the wake word ended in it (the detector then starts over)."""
        for features in self._features.process_streaming(pcm.astype("<i2").tobytes()):
            if self._model.process_streaming(features):
                self.reset()
                return True
        return False

    def reset(self) -> None:
        """Forget what was heard (a new stream)."""
        self._model.reset()
        self._features.reset()

    def close(self) -> None:
        """Free the interpreter."""
        self._model.close()
