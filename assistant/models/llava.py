"""LlamaVisionModel: a GGUF model + mmproj pair through llama-cpp-python's multimodal handlers.

The handler (the prompt format around the image) comes from ``vision.handler`` or, by default,
from the pair's GGUF metadata (gguf_info.infer_handler). The image reaches the handler as a PNG
data URI; the handler encodes it with the projector and splices its tokens into the prompt.
One model answers one question at a time (a lock), off the event loop where callers need it.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.errors import ModelError
from assistant.llm.backend import quiet_logs
from assistant.llm.errors import ContextOverflowError
from assistant.models.interfaces import VisionStats
from assistant.stdio import SILENCER_LOCK
from assistant.vision.gguf_info import (
    ProjectorInfo,
    check_pair,
    infer_handler,
    is_projector,
    mismatch,
    read_projector,
    text_model_info,
)
from assistant.vision.images import DEFAULT_MAX_SIDE, ImageInput, PreparedImage, prepare_image

# handlers that squeeze every image to the encoder's square: larger input is wasted work
FIXED_SIZE = ("llava15", "moondream", "nanollava")


class LlamaVisionModel:
    """Answers questions about images; implements the VisionModel interface."""

    def __init__(
        self, llama: Any, name: str, handler: str, projector: ProjectorInfo, max_side: int = 0
    ) -> None:
        self._llama = llama
        self.name = name
        self.handler = handler
        self.projector = projector
        self.max_side = max_side or self._default_max_side()
        self.stats = VisionStats()
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        model: Path,
        mmproj: Path,
        handler: str = "auto",
        n_ctx: int = 4096,
        threads: int = 0,
        max_side: int = 0,
        gpu_layers: int = 0,
    ) -> LlamaVisionModel:
        """Check the pair, pick its handler and load it (ModelError when it does not fit)."""
        projector = read_projector(mmproj)
        with SILENCER_LOCK:
            llama = _load_text_model(model, n_ctx, threads, gpu_layers)
            text = text_model_info(llama, model)
            try:
                check_pair(model, text, mmproj, projector)
                chosen = infer_handler(text, projector) if handler == "auto" else handler
                _attach_projector(llama, model, mmproj, chosen)
            except ModelError:
                llama.close()
                raise
        return cls(llama, text.name, chosen, projector, max_side)

    def _default_max_side(self) -> int:
        size = self.projector.image_size
        return size if size and self.handler in FIXED_SIZE else DEFAULT_MAX_SIDE

    def prepare(self, image: ImageInput) -> PreparedImage:
        """Normalise an image for this model (upright RGB, shrunk to its input size)."""
        return prepare_image(image, self.max_side)

    def describe(self, image_png: bytes, prompt: str, cancel: threading.Event) -> Iterator[str]:
        """Yield the answer to ``prompt`` about a PNG image (VisionModel)."""
        return self.answer(prepare_image(image_png, self.max_side), prompt, cancel=cancel)

    def answer(
        self,
        image: PreparedImage | None,
        prompt: str,
        max_tokens: int | None = 256,
        temperature: float = 0.1,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Stream the answer; with ``image`` None the question is answered as plain text.

        ``max_tokens`` None: until the model stops or its context is full.
        """
        content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
        if image is not None:
            content.insert(0, {"type": "image_url", "image_url": {"url": image.data_uri()}})
        with self._lock:
            yield from self._generate(content, max_tokens, temperature, cancel)

    def close(self) -> None:
        """Free the model and the image encoder now rather than at interpreter exit."""
        self._llama.close()

    def _generate(
        self,
        content: list[dict[str, Any]],
        max_tokens: int | None,
        temperature: float,
        cancel: threading.Event | None,
    ) -> Iterator[str]:
        started = time.perf_counter()
        first: float | None = None
        produced, reason = 0, ""
        self._llama.reset()  # each question stands alone: the image is the context
        try:
            with SILENCER_LOCK:  # the handler encodes the image here, output silenced
                stream = self._llama.create_chat_completion(
                    messages=[{"role": "user", "content": content}],
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stream=True,
                )
        except ValueError as exc:  # llama.cpp: the image tokens and question do not fit
            raise ContextOverflowError(
                f"the picture and question do not fit the vision model's context ({exc}); "
                "raise vision.n_ctx or lower vision.max_side"
            ) from None
        try:
            for chunk in stream:
                reason = chunk["choices"][0].get("finish_reason") or reason
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    first = first or time.perf_counter()
                    produced += 1
                    yield piece
                if cancel is not None and cancel.is_set():
                    break
        finally:
            stream.close()
            ended = time.perf_counter()
            self.stats = VisionStats(
                prompt_tokens=max(0, self._llama.n_tokens - produced),
                completion_tokens=produced,
                finish_reason=str(reason),
                timings_ms={
                    "first_token": round(((first or ended) - started) * 1000, 1),
                    "total": round((ended - started) * 1000, 1),
                },
            )


def _load_text_model(model: Path, n_ctx: int, threads: int, gpu_layers: int = 0) -> Any:
    from llama_cpp import Llama

    quiet_logs()
    _quiet_mtmd()
    try:
        return Llama(
            model_path=str(model),
            n_ctx=n_ctx,
            n_threads=threads or None,
            n_gpu_layers=gpu_layers,
            verbose=False,
        )
    except ValueError as exc:
        if is_projector(model):
            raise ModelError(
                f"{model} is a projector (mmproj), not a language model; swap vision.model and "
                "vision.mmproj"
            ) from None
        raise ModelError(f"vision model {model} could not be loaded ({exc})") from None


def _attach_projector(llama: Any, model: Path, mmproj: Path, handler: str) -> None:
    """Give the loaded model its chat handler and load the projector now, not at the first image."""
    chat_handler = _handler_class(handler)(clip_model_path=str(mmproj), verbose=False)
    llama.chat_handler = chat_handler
    try:
        chat_handler._init_mtmd_context(llama)
    except ValueError:  # llama.cpp's own check (e.g. a projector this module cannot measure)
        raise ModelError(mismatch(model, mmproj, "embeddings of another width or kind")) from None


def _quiet_mtmd() -> None:
    """Route the image encoder's logs where llama.cpp's go (stderr only with -v)."""
    from llama_cpp import mtmd_cpp
    from llama_cpp._logger import llama_log_callback

    mtmd_cpp.mtmd_log_set(llama_log_callback, ctypes.c_void_p(0))
    mtmd_cpp.mtmd_helper_log_set(llama_log_callback, ctypes.c_void_p(0))


def _handler_class(name: str) -> Any:
    from llama_cpp import llama_chat_format as formats

    return {
        "llava15": formats.Llava15ChatHandler,
        "llava16": formats.Llava16ChatHandler,
        "moondream": formats.MoondreamChatHandler,
        "nanollava": formats.NanoLlavaChatHandler,
        "minicpmv26": formats.MiniCPMv26ChatHandler,
        "qwen25vl": formats.Qwen25VLChatHandler,
        "mtmd": formats.MTMDChatHandler,
    }[name]
