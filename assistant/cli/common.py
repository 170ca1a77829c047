"""What the commands share: the global options, settings overrides from flags, model flags."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from assistant import config as config_mod
from assistant.config import Settings

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


@dataclass
class State:
    """Global options, kept until a command asks for its settings."""

    config_file: str | None
    assignments: tuple[str, ...]

    def settings(self, flags: dict[str, Any] | None = None) -> Settings:
        """Effective settings: files < environment < --set < the command's own flags."""
        overrides: dict[str, Any] = {}
        for text in self.assignments:
            overrides = config_mod.merge(overrides, config_mod.parse_assignment(text))
        return config_mod.load(config_mod.merge(overrides, flags or {}), self.config_file)


_MODEL_FLAGS: list[tuple[str, str, Any, str]] = [
    # flag, setting, type, help
    (
        "--stt-model",
        "stt.model",
        str,
        "Speech model: a name from `assistant models list` or a path.",
    ),
    ("--llm-model", "llm.model", str, "Chat model: a name or a path to a GGUF file."),
    ("--tts-model", "tts.model", str, "Voice: a name or a path to a Piper .onnx file."),
    ("--system-prompt", "llm.system_prompt", str, "Instructions given to the chat model."),
    (
        "--preset",
        "llm.preset",
        click.Choice(["default", "greedy", "precise", "creative"]),
        "Sampler preset.",
    ),
    ("--temperature", "llm.temperature", float, "Sampling temperature (0 = deterministic)."),
    ("--seed", "llm.seed", int, "Sampling seed (0 = random)."),
    ("--max-tokens", "llm.max_tokens", int, "Longest reply, in tokens."),
]


def model_options(func: F) -> F:
    """Add the model and sampling flags to a command."""
    for flag, setting, kind, text in reversed(_MODEL_FLAGS):
        dest = setting.replace(".", "__")
        func = click.option(flag, dest, type=kind, default=None, help=text)(func)
    return func


def flag_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """Nested settings from the model flags that were given (``llm__seed`` -> llm.seed)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if "__" in key and value is not None:
            section, name = key.split("__", 1)
            out.setdefault(section, {})[name] = value
    return out


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion (Ctrl+C cancels it and raises KeyboardInterrupt)."""
    return asyncio.run(coro)
