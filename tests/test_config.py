from pathlib import Path

import pytest

from assistant import config
from assistant.errors import ConfigError
from tests.conftest import run_cli


def test_defaults_load() -> None:
    s = config.load()
    assert s.stt.beam_size == 1
    assert s.stt.compute_type == "int8"
    assert s.vad.preroll_ms == 300


def test_precedence_file_env_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "assistant.toml").write_text(
        "[llm]\ntemperature = 0.1\nmax_tokens = 10\ntop_k = 5\n"
    )
    monkeypatch.chdir(tmp_path)
    assert config.load().llm.temperature == 0.1
    monkeypatch.setenv("ASSISTANT_LLM__TEMPERATURE", "0.2")
    monkeypatch.setenv("ASSISTANT_LLM__MAX_TOKENS", "20")
    s = config.load()
    assert (s.llm.temperature, s.llm.max_tokens, s.llm.top_k) == (0.2, 20, 5)
    s = config.load({"llm": {"temperature": 0.3}})
    assert (s.llm.temperature, s.llm.max_tokens, s.llm.top_k) == (0.3, 20, 5)


def test_user_config_dir_is_overridden_by_working_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_dir = tmp_path / "xdg" / "assistant"
    user_dir.mkdir(parents=True)
    (user_dir / "assistant.toml").write_text("[llm]\nseed = 7\nmax_tokens = 11\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "assistant.toml").write_text("[llm]\nmax_tokens = 12\n")
    monkeypatch.chdir(work)
    s = config.load()
    assert (s.llm.seed, s.llm.max_tokens) == (7, 12)


def test_unknown_key_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "assistant.toml").write_text("[llm]\ntemprature = 0.1\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"llm\.temprature"):
        config.load()


def test_bad_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_VAD__AGGRESSIVENESS", "7")
    with pytest.raises(ConfigError, match=r"vad\.aggressiveness"):
        config.load()


def test_unknown_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_LLM__NOPE", "1")
    with pytest.raises(ConfigError, match="ASSISTANT_LLM__NOPE"):
        config.load()


def test_invalid_toml_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "assistant.toml").write_text("[llm\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"assistant\.toml"):
        config.load()


def test_parse_assignment_types() -> None:
    assert config.parse_assignment("llm.temperature=0.2") == {"llm": {"temperature": 0.2}}
    assert config.parse_assignment("llm.stop=['a', 'b']") == {"llm": {"stop": ["a", "b"]}}
    assert config.parse_assignment("llm.system_prompt=Be brief") == {
        "llm": {"system_prompt": "Be brief"}
    }
    with pytest.raises(ConfigError):
        config.parse_assignment("novalue")


def test_config_command_prints_effective_settings(tmp_path: Path) -> None:
    (tmp_path / "assistant.toml").write_text("[vad]\nhangover_ms = 450\n")
    out = run_cli(
        "--set", "llm.seed=42", "config", cwd=tmp_path, env={"ASSISTANT_STT__BEAM_SIZE": "2"}
    )
    assert out.returncode == 0, out.stderr
    assert "hangover_ms = 450" in out.stdout
    assert "seed = 42" in out.stdout
    assert "beam_size = 2" in out.stdout


def test_config_command_rejects_bad_value_in_one_line(tmp_path: Path) -> None:
    out = run_cli("--set", "vad.frame_ms=25", "config", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "vad.frame_ms" in out.stderr
    assert "Traceback" not in out.stderr
