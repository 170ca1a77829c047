"""assistant: a local, offline, multimodal, real-time voice assistant, and its Python library.

The library API (models, sampling and errors so far) is importable from here::

    from assistant import Model, SamplerParams
    model = Model.load(path)
    prompt = model.apply_chat_template([("user", "Hello!")])
"""

from assistant.llm.backend import (
    backend_free,
    backend_init,
    max_devices,
    supports_gpu_offload,
    system_info,
)
from assistant.llm.errors import (
    ConfigurationError,
    ContextError,
    ContextOverflowError,
    FeatureNotAvailableError,
    GenerationError,
    LlmError,
    ModelLoadError,
    TokenizationError,
)
from assistant.llm.model import Model
from assistant.llm.sampling import SamplerParams

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "ContextError",
    "ContextOverflowError",
    "FeatureNotAvailableError",
    "GenerationError",
    "LlmError",
    "Model",
    "ModelLoadError",
    "SamplerParams",
    "TokenizationError",
    "__version__",
    "backend_free",
    "backend_init",
    "max_devices",
    "supports_gpu_offload",
    "system_info",
]
