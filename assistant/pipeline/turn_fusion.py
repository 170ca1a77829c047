"""One end-of-turn decision from what the pause sounds like and what the words say.

At a checkpoint of a pause three opinions are at hand: Smart Turn's probability that the audio
sounds finished, the chat model's probability that the user's message ends after their words
(``llm.turn_end``), and the plain cues of the transcript (a question mark, an open last word
such as "the"). A logistic regression over ``TurnFeatures`` weighs them into one probability.
Its weights are not set by hand: ``bench/fit_turn_fusion.py`` fits them on the labelled pauses
of the dev set (bench/devset.py) and writes ``turn_fusion.toml`` next to this module, with the
data's checksum and the fit's figures. Collecting the features and deciding share
``features()``, so what was fitted is what runs.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from assistant.errors import ConfigError
from assistant.llm.turn_end import TurnEndScore
from assistant.pipeline.turn_taking import sounds_unfinished

DEFAULT = Path(__file__).with_name("turn_fusion.toml")
_FLOOR = -20.0  # log-probabilities below e^-20 all mean "no": clipped so one word cannot dominate
_EDGE = 1e-4  # audio probabilities kept off 0 and 1 so their logit stays finite


@dataclass(frozen=True)
class TurnFeatures:
    """What the decision reads at one checkpoint of a pause, in the order of the weights."""

    audio_logit: float  # logit of Smart Turn's P(finished)
    log_p_end: float  # log P(end of message) after the words, from the chat model
    log_p_stop: float  # log P(end of message, or a sentence-final mark)
    asked: float  # 1 when the transcript ends with "?"
    open_ending: float  # 1 when the transcript ends on an open word, a comma or a dash
    pause_s: float  # silence so far at this checkpoint
    log_words: float  # log(1 + words in the transcript)

    @classmethod
    def names(cls) -> list[str]:
        """The features' names, in the order the weights follow."""
        return [f.name for f in fields(cls)]


def features(p_audio: float, score: TurnEndScore, text: str, pause_ms: float) -> TurnFeatures:
    """The features of one checkpoint: audio probability, text score, transcript, pause so far."""
    p = min(max(p_audio, _EDGE), 1.0 - _EDGE)
    stripped = text.strip()
    return TurnFeatures(
        audio_logit=math.log(p / (1.0 - p)),
        log_p_end=_log(score.p_end),
        log_p_stop=_log(score.p_stop),
        asked=float(stripped.endswith("?")),
        open_ending=float(bool(stripped) and sounds_unfinished(stripped)),
        pause_s=pause_ms / 1000.0,
        log_words=math.log1p(len(stripped.split())),
    )


def _log(p: float) -> float:
    return max(math.log(p), _FLOOR) if p > 0.0 else _FLOOR


@dataclass(frozen=True)
class TurnFusion:
    """A fitted logistic regression: finished when ``probability(f) >= threshold``."""

    weights: tuple[float, ...]
    bias: float
    threshold: float

    @classmethod
    def load(cls, path: Path = DEFAULT) -> TurnFusion:
        """The fitted weights; a ConfigError naming the file when it is missing or does not fit."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"cannot read the end-of-turn weights {path}: {exc}; "
                "refit them with `python bench/fit_turn_fusion.py`"
            ) from exc
        names = TurnFeatures.names()
        if data.get("features") != names or len(data.get("weights", [])) != len(names):
            raise ConfigError(
                f"{path} was fitted on features {data.get('features')}, this build reads "
                f"{names}; refit them with `python bench/fit_turn_fusion.py`"
            )
        try:
            return cls(
                tuple(float(w) for w in data["weights"]),
                float(data["bias"]),
                float(data["threshold"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path} lacks a usable bias or threshold ({exc})") from exc

    def probability(self, f: TurnFeatures) -> float:
        """P(the turn is over) at this checkpoint."""
        z = self.bias + sum(w * x for w, x in zip(self.weights, astuple(f), strict=True))
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def finished(self, f: TurnFeatures) -> bool:
        """Whether the turn ends at this checkpoint."""
        return self.probability(f) >= self.threshold
