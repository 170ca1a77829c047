"""The chat model: llama.cpp through llama-cpp-python, sampler parameters and presets."""

from assistant.llm.sampling import SamplerParams

__all__ = ["SamplerParams"]
