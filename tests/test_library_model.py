"""The library's Model, SamplerParams, errors and back-end utilities on the default model."""

from pathlib import Path

import pytest

import assistant
from assistant import ConfigurationError, Model, ModelLoadError, SamplerParams, TokenizationError
from assistant.catalog import ModelStore
from assistant.types import ChatMessage


@pytest.fixture(scope="module")
def model() -> Model:
    return Model.load(ModelStore().resolve("llm").path)


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world!",
        "Crème brûlée à la française",
        "🙂👍🏽 emoji",
        "日本語のテキスト",
        "  two  spaces ",
    ],
)
def test_tokenize_round_trip(model: Model, text: str) -> None:
    tokens = model.tokenize(text, add_bos=False)
    assert tokens and all(isinstance(t, int) for t in tokens)
    assert model.detokenize(tokens) == text


def test_special_tokens(model: Model) -> None:
    plain = model.tokenize("<|im_end|>", add_bos=False, special=False)
    parsed = model.tokenize("<|im_end|>", add_bos=False, special=True)
    assert len(parsed) == 1 and len(plain) > 1
    assert model.token_is_eog(parsed[0]) and not model.token_is_eog(plain[0])
    assert model.detokenize(parsed, unparse_special=True) == "<|im_end|>"
    assert model.detokenize(parsed, unparse_special=False) == ""


def test_chat_template_accepts_tuples_dicts_and_messages(model: Model) -> None:
    tuples = model.apply_chat_template([("system", "Be brief."), ("user", "Hi")])
    dicts = model.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    )
    msgs = model.apply_chat_template(
        [ChatMessage("system", "Be brief."), ChatMessage("user", "Hi")]
    )
    assert tuples == dicts == msgs
    expected = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    assert tuples == expected + "<|im_start|>assistant\n"
    assert not model.apply_chat_template([("user", "Hi")], add_generation_prompt=False).endswith(
        "assistant\n"
    )
    with pytest.raises(ConfigurationError):
        model.apply_chat_template(["just a string"])  # type: ignore[list-item]


def test_properties_metadata_and_repr(model: Model) -> None:
    assert (model.n_vocab, model.n_embd, model.n_layer, model.n_head) == (49152, 576, 30, 9)
    assert model.n_ctx_train == 8192 and model.n_params > 100_000_000
    assert model.architecture == "llama" and model.name
    assert model.metadata()["general.architecture"] == "llama"
    assert 50_000_000 < model.size < 200_000_000
    assert "Q4_1" in model.description
    assert repr(model).startswith("Model(name=") and "arch='llama'" in repr(model)
    assert model.token_is_eog(model.token_eos)


def test_vocab_only_load_tokenizes(model: Model) -> None:
    vocab = Model.load(model.path, vocab_only=True)
    assert vocab.tokenize("hello there") == model.tokenize("hello there")


def test_load_errors_are_typed_and_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"nope\.gguf") as missing:
        Model.load(tmp_path / "nope.gguf")
    assert isinstance(missing.value, RuntimeError)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(RuntimeError, match=r"broken\.gguf"):
        Model.load(broken)


def test_detokenize_rejects_ids_outside_the_vocabulary(model: Model) -> None:
    with pytest.raises(TokenizationError) as err:
        model.detokenize([model.n_vocab + 5])
    assert isinstance(err.value, ValueError)
    with pytest.raises(TypeError):
        model.tokenize(b"bytes")  # type: ignore[arg-type]


def test_sampler_params_defaults_presets_and_validation() -> None:
    p = SamplerParams()
    assert (p.temperature, p.top_k, p.top_p, p.min_p, p.typical_p) == (0.8, 40, 0.95, 0.05, 1.0)
    assert (p.penalty_repeat, p.penalty_freq, p.penalty_present, p.penalty_last_n, p.seed) == (
        1.1,
        0.0,
        0.0,
        64,
        0,
    )
    assert (SamplerParams.greedy().temperature, SamplerParams.greedy().top_k) == (0.0, 1)
    assert (SamplerParams.precise().temperature, SamplerParams.precise().top_k) == (0.3, 20)
    assert (SamplerParams.creative().temperature, SamplerParams.creative().top_k) == (1.2, 100)
    p.top_p = 0.9
    p.top_k = 50
    assert (p.top_p, p.top_k) == (0.9, 50)
    with pytest.raises(ValueError, match="top_p"):
        p.top_p = 1.5
    with pytest.raises(ValueError, match="top_k"):
        SamplerParams(top_k=-1)
    with pytest.raises(ValueError, match="must be an int"):
        p.top_k = 2.5  # type: ignore[assignment]
    assert p.top_p == 0.9  # a refused assignment changes nothing


def test_backend_utilities() -> None:
    assistant.backend_init()
    assert "AVX" in assistant.system_info() or "CPU" in assistant.system_info()
    assert assistant.supports_gpu_offload() in (True, False)
    assert assistant.max_devices() >= 1


def test_quantize_writes_a_loadable_model(model: Model, tmp_path: Path) -> None:
    out = assistant.quantize(model.path, tmp_path / "q4_0.gguf", "Q4_0")
    smaller = Model.load(out)
    assert "Q4_0" in smaller.description and smaller.n_vocab == model.n_vocab
    with pytest.raises(ConfigurationError):
        assistant.quantize(model.path, tmp_path / "x.gguf", "Q9_Z")
    assert not (tmp_path / "x.gguf").exists()
