"""Smart Turn v3: an audio classifier that says whether the speaker has finished.

The model (BSD-2-Clause, an ONNX export of a Whisper-tiny encoder with a classification head)
reads the last 8 s of 16 kHz audio as Whisper's 80-bin log-mel features and returns the
probability that the turn is complete. Its input is made here: the audio is cut to its last
8 s (or padded with silence in front), normalised to zero mean and unit variance, and turned
into features by faster-whisper's feature extractor (already a dependency, and equal to the
reference implementation within 1e-6; a test checks it on real speech). The extractor is one
numpy module of that package, loaded as a file of its own: the package itself loads
CTranslate2, the speech model's runtime, which a kiosk whose recognition runs on a server
never needs.

One decision costs ~95 ms of CPU on the reference machine (bench/turns.py), so the model gets
a thread of its own and runs while speech recognition uses the other core; the VAD stage asks
it 120 ms into a pause (``vad.turn_short_ms``).
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError
from assistant.types import Pcm16

RATE = 16000
WINDOW_S = 8


class SmartTurn:
    """The end-of-turn model of one ONNX file."""

    sample_rate = RATE

    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime's own error types are not exported stably
            raise ModelError(
                f"end-of-turn model {path.name} could not be loaded ({exc}); reinstall the "
                'default models with `make setup`, or set vad.end_of_turn = "silence"'
            ) from None
        self._input = self._session.get_inputs()[0].name
        self._features = _feature_extractor()(feature_size=80, sampling_rate=RATE)

    def features(self, audio: Pcm16) -> np.ndarray:
        """The model's input for ``audio`` (16 kHz int16): log-mel features, shape (80, 800)."""
        samples = audio.astype(np.float32) / 32768.0
        window = RATE * WINDOW_S
        samples = samples[-window:]
        if len(samples) < window:
            samples = np.pad(samples, (window - len(samples), 0))
        samples = (samples - samples.mean()) / np.sqrt(samples.var() + 1e-7)
        mel: np.ndarray = self._features(samples, padding=0)
        return mel[:, : window // 160].astype(np.float32)

    def probability(self, audio: Pcm16) -> float:
        """How likely the speaker of ``audio`` has finished (0..1)."""
        return self.infer(self.features(audio))

    def infer(self, features: np.ndarray) -> float:
        """The model alone on ready features (``features``), for a probability."""
        (output,) = self._session.run(None, {self._input: features[np.newaxis]})[:1]
        return float(np.asarray(output).reshape(-1)[0])


@cache
def _feature_extractor() -> Any:
    """faster-whisper's ``FeatureExtractor`` class, from its module alone (numpy only).

    Found without importing the package (``find_spec`` of a top-level name only locates it),
    so neither CTranslate2 nor the package's import lock is involved: this loads on a thread
    beside the speech model, which imports the package.
    """
    package = importlib.util.find_spec("faster_whisper")
    if package is None or not package.submodule_search_locations:
        raise ModelError("faster-whisper is not installed; reinstall with `make setup`")
    path = Path(package.submodule_search_locations[0]) / "feature_extractor.py"
    spec = importlib.util.spec_from_file_location("assistant_whisper_features", path)
    if spec is None or spec.loader is None:
        raise ModelError(f"faster-whisper's feature extractor is missing ({path})")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FeatureExtractor
