"""Sampler parameters with the reference defaults and the greedy / precise / creative presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.config import LlmSettings


@dataclass
class SamplerParams:
    """How the next token is chosen. ``seed`` 0 picks a fresh random seed per call."""

    temperature: float = 0.8  # 0 = always the most likely token
    top_k: int = 40  # 0 = disabled
    top_p: float = 0.95  # 1 = disabled
    min_p: float = 0.05  # 0 = disabled
    typical_p: float = 1.0  # 1 = disabled
    penalty_repeat: float = 1.1  # 1 = disabled
    penalty_freq: float = 0.0
    penalty_present: float = 0.0
    penalty_last_n: int = 64  # tokens the penalties look back over; -1 = whole context
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first out-of-range field."""
        checks = {
            "temperature": self.temperature >= 0,
            "top_k": self.top_k >= 0,
            "top_p": 0 <= self.top_p <= 1,
            "min_p": 0 <= self.min_p <= 1,
            "typical_p": 0 <= self.typical_p <= 1,
            "penalty_repeat": self.penalty_repeat >= 0,
            "penalty_last_n": self.penalty_last_n >= -1,
            "seed": self.seed >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"SamplerParams.{name} is out of range: {getattr(self, name)!r}")

    @classmethod
    def greedy(cls) -> SamplerParams:
        """Deterministic: always the most likely token."""
        return cls(temperature=0.0, top_k=1)

    @classmethod
    def precise(cls) -> SamplerParams:
        """Low randomness."""
        return cls(temperature=0.3, top_k=20)

    @classmethod
    def creative(cls) -> SamplerParams:
        """High randomness."""
        return cls(temperature=1.2, top_k=100)

    @classmethod
    def preset(cls, name: str) -> SamplerParams:
        """A preset by name: default, greedy, precise or creative."""
        if name == "default":
            return cls()
        factories = {"greedy": cls.greedy, "precise": cls.precise, "creative": cls.creative}
        if name not in factories:
            raise ValueError(
                f"unknown sampler preset {name!r}; use one of default, {', '.join(factories)}"
            )
        return factories[name]()

    @classmethod
    def from_settings(cls, llm: LlmSettings) -> SamplerParams:
        """The preset named in the settings with every explicitly set field applied on top."""
        base = cls.preset(llm.preset)
        fields = {f.name for f in dataclasses.fields(cls)}
        changes: dict[str, Any] = {
            name: value for name in fields if (value := getattr(llm, name)) is not None
        }
        return dataclasses.replace(base, **changes)
