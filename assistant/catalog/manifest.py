"""Reads ``models/manifest.toml``: name, kind, source package, files, sha256 and licence."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import ConfigError

ROLES = ("stt", "llm", "tts", "turn")  # "turn": the end-of-turn model (vad.turn_model)


def configured_model(settings: Any, role: str) -> str:
    """The model the settings choose for ``role`` ("" = the manifest's default)."""
    return str(settings.vad.turn_model if role == "turn" else getattr(settings, role).model)


@dataclass(frozen=True)
class ManifestFile:
    """One file of a model, relative to the model's source folder."""

    path: str
    size: int  # bytes
    sha256: str


@dataclass(frozen=True)
class ManifestEntry:
    """A default model shipped inside a PyPI package."""

    name: str
    kind: str  # one of ROLES
    format: str  # gguf | ctranslate2 | piper | onnx
    package: str  # distribution name on PyPI
    license: str
    source: str  # folder inside the package's installed files
    entry: str  # what a loader opens, relative to the model folder ("." = the folder)
    files: tuple[ManifestFile, ...]


def repo_models_dir() -> Path:
    """The ``models/`` folder beside the package (an editable install or a checkout)."""
    return Path(__file__).resolve().parents[2] / "models"


def manifest_path() -> Path:
    """The manifest of the checkout, else the copy packaged inside a wheel."""
    in_repo = repo_models_dir() / "manifest.toml"
    return in_repo if in_repo.is_file() else Path(__file__).with_name("manifest.toml")


def load_manifest(path: Path | None = None) -> list[ManifestEntry]:
    """Parse the manifest into entries; a malformed manifest raises ConfigError."""
    path = path or manifest_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return [_entry(raw) for raw in data["model"]]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"model manifest {path} is unreadable ({exc}); restore it from git"
        ) from exc


def _entry(raw: dict[str, object]) -> ManifestEntry:
    files = raw["files"]
    assert isinstance(files, list)
    return ManifestEntry(
        name=str(raw["name"]),
        kind=str(raw["kind"]),
        format=str(raw["format"]),
        package=str(raw["package"]),
        license=str(raw["license"]),
        source=str(raw["source"]),
        entry=str(raw["entry"]),
        files=tuple(ManifestFile(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in files),
    )
