"""Sampler parameters with the reference defaults and the greedy / precise / creative presets."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistant.llm.errors import ConfigurationError

_CHECKS: dict[str, tuple[type | tuple[type, ...], Any, str]] = {
    "temperature": ((int, float), lambda v: v >= 0, ">= 0"),
    "top_k": (int, lambda v: v >= 0, ">= 0, 0 = off"),
    "top_p": ((int, float), lambda v: 0 <= v <= 1, "0..1"),
    "min_p": ((int, float), lambda v: 0 <= v <= 1, "0..1"),
    "typical_p": ((int, float), lambda v: 0 <= v <= 1, "0..1"),
    "penalty_repeat": ((int, float), lambda v: v >= 0, ">= 0, 1 = off"),
    "penalty_freq": ((int, float), lambda v: -2 <= v <= 2, "-2..2"),
    "penalty_present": ((int, float), lambda v: -2 <= v <= 2, "-2..2"),
    "penalty_last_n": (int, lambda v: v >= -1, ">= -1, -1 = whole context"),
    "seed": (int, lambda v: 0 <= v < 2**32, "0..2**32-1, 0 = random"),
}


def _check_bias(value: Any) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in value
    ):
        raise ConfigurationError("SamplerParams.logit_bias maps token ids (ints >= 0) to biases")
    if not all(isinstance(v, int | float) and -100 <= v <= 100 for v in value.values()):
        raise ConfigurationError("SamplerParams.logit_bias: each bias is a number in -100..100")


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
    # token id -> added to its logit (OpenAI's logit_bias: -100 bans it, 100 all but forces it)
    logit_bias: dict[int, float] = dataclasses.field(default_factory=dict)

    def __setattr__(self, name: str, value: Any) -> None:
        """Every assignment is checked, at construction and later."""
        if name == "logit_bias":
            _check_bias(value)
        elif name in _CHECKS:
            kind, ok, rule = _CHECKS[name]
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ConfigurationError(
                    f"SamplerParams.{name} must be {'an int' if kind is int else 'a number'}, "
                    f"not {type(value).__name__}"
                )
            if not ok(value):
                raise ConfigurationError(f"SamplerParams.{name}={value!r} is out of range ({rule})")
        super().__setattr__(name, value)

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
            raise ConfigurationError(
                f"unknown sampler preset {name!r}; use one of default, {', '.join(factories)}"
            )
        return factories[name]()

    @classmethod
    def from_fields(cls, preset: str, values: Mapping[str, Any]) -> SamplerParams:
        """The preset ``preset`` with every sampler field of ``values`` that is not None on top.

        ``values`` may hold other keys (a whole settings section): only sampler fields count.
        """
        base = cls.preset(preset)
        fields = {f.name for f in dataclasses.fields(cls)}
        changes: dict[str, Any] = {
            name: value for name in fields if (value := values.get(name)) is not None
        }
        return dataclasses.replace(base, **changes)
