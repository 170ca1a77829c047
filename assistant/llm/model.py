"""Model: a loaded GGUF model, its vocabulary, metadata and chat template (no context).

One Model can serve several contexts; it is loaded once (memory-mapped by default).
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.llm.backend import quiet_logs
from assistant.llm.errors import ModelLoadError, TokenizationError

if TYPE_CHECKING:
    from assistant.llm.template import ChatTemplate, Message


class Model:
    """A llama.cpp model. Create it with ``Model.load(path)``."""

    def __init__(self, handle: Any, path: Path) -> None:
        self._handle = handle  # llama_cpp._internals.LlamaModel
        self.path = path
        self._meta: dict[str, str] | None = None
        self._template: ChatTemplate | None = None

    @classmethod
    def load(
        cls,
        path: str | Path,
        n_gpu_layers: int = 0,
        use_mmap: bool = True,
        use_mlock: bool = False,
        vocab_only: bool = False,
    ) -> Model:
        """Load a GGUF file; ``n_gpu_layers=-1`` offloads every layer (GPU builds)."""
        import llama_cpp
        from llama_cpp._internals import LlamaModel

        quiet_logs()
        path = Path(path).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"model file {path} not found; check the path")
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = 0x7FFFFFFF if n_gpu_layers < 0 else n_gpu_layers
        params.use_mmap, params.use_mlock, params.vocab_only = use_mmap, use_mlock, vocab_only
        try:
            # verbose: llama.cpp's logs already go through the log callback (quiet_logs);
            # False would point the process's stdout/stderr at /dev/null during the load
            handle = LlamaModel(path_model=str(path), params=params, verbose=True)
        except ValueError as exc:
            raise ModelLoadError(
                f"model file {path} could not be loaded as GGUF ({exc}); is it a complete "
                "GGUF file?"
            ) from None
        return cls(handle, path)

    # --- vocabulary ----------------------------------------------------------------------

    def tokenize(self, text: str, add_bos: bool = True, special: bool = False) -> list[int]:
        """Token ids of ``text``; ``add_bos`` adds the model's start token if it uses one."""
        if not isinstance(text, str):
            raise TypeError(f"tokenize takes a str, not {type(text).__name__}")
        try:
            return list(self._handle.tokenize(text.encode("utf-8"), add_bos, special))
        except RuntimeError as exc:
            raise TokenizationError(f"could not tokenize the text ({exc})") from None

    def detokenize(
        self, tokens: Iterable[int], remove_special: bool = False, unparse_special: bool = False
    ) -> str:
        """Text of ``tokens``; ``unparse_special`` renders special tokens such as ``<|im_end|>``."""
        return self.detokenize_bytes(tokens, remove_special, unparse_special).decode(
            "utf-8", errors="replace"
        )

    def detokenize_bytes(
        self, tokens: Iterable[int], remove_special: bool = False, unparse_special: bool = False
    ) -> bytes:
        """Like ``detokenize`` but the raw UTF-8 (a piece may end inside a character)."""
        import llama_cpp

        ids = list(tokens)
        bad = [t for t in ids if not 0 <= t < self.n_vocab]
        if bad:
            raise TokenizationError(
                f"token id {bad[0]} is outside the vocabulary (0..{self.n_vocab - 1})"
            )
        array = (llama_cpp.llama_token * len(ids))(*ids)
        size = max(64, 8 * len(ids))
        for _ in range(2):
            buffer = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_detokenize(
                self._handle.vocab, array, len(ids), buffer, size, remove_special, unparse_special
            )
            if n >= 0:
                return buffer.raw[:n]
            size = -n
        raise TokenizationError("could not detokenize the tokens")

    def token_is_eog(self, token: int) -> bool:
        """Whether ``token`` ends generation (end of turn or end of text)."""
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self._handle.vocab, token))

    # --- chat ------------------------------------------------------------------------------

    def apply_chat_template(
        self, messages: Iterable[Message], add_generation_prompt: bool = True
    ) -> str:
        """Render (role, content) tuples, OpenAI dicts or ChatMessages with the model's template."""
        if self._template is None:
            from assistant.llm.template import ChatTemplate

            special = {"bos": self.token_bos, "eos": self.token_eos}
            names = {
                k: self.detokenize([v], unparse_special=True) if v >= 0 else ""
                for k, v in special.items()
            }
            self._template = ChatTemplate(
                self.metadata().get("tokenizer.chat_template"),
                names["bos"],
                names["eos"],
                str(self.path),
            )
        return self._template.render(messages, add_generation_prompt)

    # --- metadata and properties -----------------------------------------------------------

    def metadata(self) -> dict[str, str]:
        """Every GGUF metadata key and its value as text."""
        if self._meta is None:
            self._meta = dict(self._handle.metadata())
        return dict(self._meta)

    def _c(self, name: str) -> int:
        import llama_cpp

        return int(getattr(llama_cpp, name)(self._handle.model))

    @property
    def n_ctx_train(self) -> int:
        """Context length the model was trained with."""
        return int(self._handle.n_ctx_train())

    @property
    def n_embd(self) -> int:
        """Embedding width."""
        return int(self._handle.n_embd())

    @property
    def vocab(self) -> Any:
        """llama.cpp's vocabulary handle (for samplers such as a grammar's)."""
        return self._handle.vocab

    @property
    def n_vocab(self) -> int:
        """Vocabulary size."""
        return int(self._handle.n_vocab())

    @property
    def n_layer(self) -> int:
        """Number of layers."""
        return self._c("llama_model_n_layer")

    @property
    def n_head(self) -> int:
        """Number of attention heads."""
        return self._c("llama_model_n_head")

    @property
    def token_bos(self) -> int:
        """Start-of-sequence token id (-1 if none)."""
        return int(self._handle.token_bos())

    @property
    def token_eos(self) -> int:
        """End-of-sequence token id."""
        return int(self._handle.token_eos())

    @property
    def size(self) -> int:
        """Size of the weights in bytes."""
        return int(self._handle.size())

    @property
    def n_params(self) -> int:
        """Number of parameters."""
        return int(self._handle.n_params())

    @property
    def description(self) -> str:
        """llama.cpp's one-line description (type, size, quantisation)."""
        return str(self._handle.desc())

    @property
    def architecture(self) -> str | None:
        """Architecture name, e.g. "llama"."""
        return self.metadata().get("general.architecture")

    @property
    def pooling(self) -> int:
        """How sentence embeddings pool token vectors: the GGUF's own choice, else mean (1).

        Chat models declare none; averaging their token vectors gives usable sentence vectors.
        """
        declared = self.metadata().get(f"{self.architecture}.pooling_type")
        return int(declared) if declared is not None else 1  # LLAMA_POOLING_TYPE_MEAN

    @property
    def name(self) -> str | None:
        """Model name from the metadata."""
        return self.metadata().get("general.name")

    def close(self) -> None:
        """Free the weights now (also happens when the Model is garbage-collected)."""
        self._handle.close()

    def __repr__(self) -> str:
        return (
            f"Model(name={self.name!r}, arch={self.architecture!r}, params={self.n_params}, "
            f"size={self.size // 1_000_000}MB)"
        )
