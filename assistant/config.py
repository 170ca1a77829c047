"""Configuration: ``assistant.toml`` < ``ASSISTANT_*`` environment < command-line flags.

Files are searched in the user config dir, then the working directory (the later overrides the
earlier); ``--config FILE`` or ``ASSISTANT_CONFIG`` names one file instead. Nested keys use
``__`` in the environment (``ASSISTANT_LLM__TEMPERATURE=0.2``). Every key is validated and an
unknown key or bad value is reported by its dotted name.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar

from platformdirs import user_config_dir
from pydantic import BaseModel, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from assistant.config_kiosk import KioskSettings
from assistant.config_sections import (
    DEFAULT_SYSTEM_PROMPT,
    AudioSettings,
    LlmSettings,
    ServerSettings,
    SttSettings,
    ToolsSettings,
    TtsSettings,
    VadSettings,
    VisionSettings,
)
from assistant.errors import ConfigError

__all__ = [
    "CONFIG_NAME",
    "DEFAULT_SYSTEM_PROMPT",
    "ENV_PREFIX",
    "AudioSettings",
    "KioskSettings",
    "LlmSettings",
    "ServerSettings",
    "Settings",
    "SttSettings",
    "ToolsSettings",
    "TtsSettings",
    "VadSettings",
    "VisionSettings",
    "config_files",
    "load",
    "merge",
    "parse_assignment",
]

CONFIG_NAME = "assistant.toml"
ENV_PREFIX = "ASSISTANT_"


class Settings(BaseSettings):
    """The effective configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_assignment=True
    )

    models_dir: Path | None = None  # where `models link` puts links; default: repo models/
    stt: SttSettings = SttSettings()
    llm: LlmSettings = LlmSettings()
    tts: TtsSettings = TtsSettings()
    vad: VadSettings = VadSettings()
    audio: AudioSettings = AudioSettings()
    server: ServerSettings = ServerSettings()
    vision: VisionSettings = VisionSettings()
    kiosk: KioskSettings = KioskSettings()
    tools: ToolsSettings = ToolsSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init) over environment over the merged TOML files (``file_values``)."""
        values = getattr(settings_cls, "file_values", {})
        return init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=values)


def config_files(explicit: str | None = None) -> list[Path]:
    """The TOML files that apply, lowest precedence first."""
    explicit = explicit or os.environ.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} not found; fix --config or {ENV_PREFIX}CONFIG")
        return [path]
    candidates = [Path(user_config_dir("assistant")) / CONFIG_NAME, Path.cwd() / CONFIG_NAME]
    return [p for p in candidates if p.is_file()]


def load(overrides: dict[str, Any] | None = None, config_file: str | None = None) -> Settings:
    """Build the effective settings; ``overrides`` are flag values as nested dicts."""
    files = config_files(config_file)
    values: dict[str, Any] = {}
    for path in files:
        values = merge(values, _read_toml(path))
    _check_env()
    # The files are read per call, so each load goes through a subclass that holds their values.
    bound = type(
        "Settings",
        (Settings,),
        {"file_values": values, "__annotations__": {"file_values": ClassVar[dict[str, Any]]}},
    )
    try:
        settings: Settings = bound(**(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, files)) from None
    return settings


def parse_assignment(text: str) -> dict[str, Any]:
    """Turn ``section.key=value`` (value in TOML syntax, else a plain string) into nested dicts."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set llm.temperature=0.2")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    nested: dict[str, Any] = {}
    node = nested
    *parents, leaf = key.strip().split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return nested


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``extra`` into a copy of ``base``."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML ({exc}); fix the file") from None


def _env_names() -> set[str]:
    names = {f"{ENV_PREFIX}CONFIG"}
    for name, field in Settings.model_fields.items():
        names.add(f"{ENV_PREFIX}{name.upper()}")
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            names.update(f"{ENV_PREFIX}{name.upper()}__{k.upper()}" for k in section.model_fields)
    return names


def _check_env() -> None:
    known = _env_names()
    for var in os.environ:
        if var.upper().startswith(ENV_PREFIX) and var.upper() not in known:
            raise ConfigError(
                f"unknown setting in environment variable {var}; see `assistant config` for the "
                "keys (nested keys use __, e.g. ASSISTANT_LLM__TEMPERATURE)"
            )


def _describe(exc: ValidationError, files: list[Path]) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    sources = f"{ENV_PREFIX}*, " + (", ".join(str(p) for p in files) or "no config file")
    if err["type"] == "extra_forbidden":
        return f"unknown setting {key!r} (sources: flags, {sources}); see `assistant config`"
    given = err.get("input")
    # A whole section (a rule across its keys) is not echoed, nor a key: secrets stay unprinted.
    got = "" if isinstance(given, dict) or key.endswith("api_key") else f"got {given!r}; "
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"bad value for {key}: {message} ({got}sources: flags, {sources})"
