"""The library's error types: each is also the built-in exception the reference API names.

``except RuntimeError`` keeps working for code written against the reference, while
``except LlmError`` catches everything this package raises about models.
"""

from __future__ import annotations

from assistant.errors import AssistantError, ConfigError, ModelError


class LlmError(AssistantError):
    """Base of the model errors."""


class ModelLoadError(LlmError, ModelError, RuntimeError):
    """A model file is missing, unreadable or not a usable GGUF model."""


class ContextError(LlmError, RuntimeError):
    """A context could not be created or used."""


class ContextOverflowError(ContextError, ValueError):
    """The prompt does not fit the context window."""


class TokenizationError(LlmError, ValueError):
    """Text could not be turned into tokens, or tokens into text."""


class GenerationError(LlmError, RuntimeError):
    """Generation failed inside llama.cpp."""


class Interrupted(GenerationError):
    """An evaluation stopped by ``Context.interrupt`` (or ``close``) before it finished."""


class ConfigurationError(LlmError, ConfigError, ValueError):
    """A parameter is out of range or of the wrong kind."""


class FeatureNotAvailableError(LlmError, RuntimeError):
    """The model or the build lacks a feature (e.g. a chat template, GPU offload)."""
