"""assistant: a local, offline, multimodal, real-time voice assistant, and its Python library.

The library API (models, contexts, sampling and errors so far) is importable from here::

    from assistant import Context, Model, SamplerParams
    model = Model.load(path)
    ctx = Context(model, n_ctx=2048)
    prompt = model.apply_chat_template([("user", "Hello!")])
    for piece in ctx.generate_stream(prompt, max_tokens=64, params=SamplerParams.precise()):
        print(piece, end="")
"""

from assistant.llm.aio import AsyncModel, BatchGenerationConfig, GenerationResult
from assistant.llm.backend import (
    backend_free,
    backend_init,
    max_devices,
    supports_gpu_offload,
    system_info,
)
from assistant.llm.context import Context
from assistant.llm.embeddings import EmbeddingGenerator, cosine_similarity
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
from assistant.llm.grammar import Grammar
from assistant.llm.model import Model
from assistant.llm.pool import ContextPool
from assistant.llm.quantize import quantize
from assistant.llm.sampling import SamplerParams

__version__ = "0.1.0"

__all__ = [
    "AsyncModel",
    "BatchGenerationConfig",
    "ConfigurationError",
    "Context",
    "ContextError",
    "ContextOverflowError",
    "ContextPool",
    "EmbeddingGenerator",
    "FeatureNotAvailableError",
    "GenerationError",
    "GenerationResult",
    "Grammar",
    "LlmError",
    "Model",
    "ModelLoadError",
    "SamplerParams",
    "TokenizationError",
    "__version__",
    "backend_free",
    "backend_init",
    "cosine_similarity",
    "max_devices",
    "quantize",
    "supports_gpu_offload",
    "system_info",
]
