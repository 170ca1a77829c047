"""Text to speech with Piper (ONNX voices, phonemes from the espeak-ng data shipped with it)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from assistant.errors import ModelError
from assistant.types import Pcm16


class PiperTTS:
    """A Piper voice; implements the TextToSpeech interface."""

    def __init__(
        self,
        path: Path,
        speaker_id: int | None = None,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
        volume: float = 1.0,
        threads: int = 0,
        memory_arena: bool = False,
    ) -> None:
        import onnxruntime
        from piper import PiperVoice, SynthesisConfig
        from piper.config import PiperConfig

        config_path = Path(f"{path}.json")
        try:
            config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads or os.cpu_count() or 1
            options.enable_cpu_mem_arena = memory_arena  # see tts.memory_arena
            session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except (
            OSError,
            ValueError,
            KeyError,
            RuntimeError,
            onnxruntime.capi.onnxruntime_pybind11_state.Fail,
        ) as exc:
            raise ModelError(
                f"voice {path} (with {config_path.name}) could not be loaded ({exc}); "
                "fix tts.model "
                "or reinstall the default models with `make setup`"
            ) from None
        self._voice = PiperVoice(session=session, config=config)
        self._syn = SynthesisConfig(
            speaker_id=speaker_id,
            length_scale=length_scale,
            noise_scale=noise_scale,
            noise_w_scale=noise_w_scale,
            volume=volume,
        )
        self.sample_rate: int = config.sample_rate
        self.language = config.espeak_voice.split("-")[0].split("_")[0]  # "en-us" -> "en"

    def synthesize(self, text: str) -> Iterator[Pcm16]:
        """Yield mono int16 audio, one piece per sentence Piper finds in ``text``."""
        for chunk in self._voice.synthesize(speakable_text(text), syn_config=self._syn):
            yield chunk.audio_int16_array.reshape(-1)


def speakable_text(text: str) -> str:
    """``text`` without what the phonemizer cannot take: control characters, lone surrogates."""
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    return "".join(c if c.isprintable() or c in "\n\t" else " " for c in text)
