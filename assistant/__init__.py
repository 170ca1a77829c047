"""assistant: a local, offline, multimodal, real-time voice assistant."""

__version__ = "0.1.0"

__all__ = ["__version__"]
